package main

import (
	"bytes"
	"fmt"
)

// rmaFamily is OpenSHMEM 1.5's section 9.8: the typed, sized and mem puts
// and gets, blocking and non-blocking, p and g, iput and iget, each on the
// default context and on an explicit one.
func rmaFamily() family {
	return family{name: "rma", decls: rmaDecls, defs: rmaDefs, generics: rmaGenerics}
}

// rmaOp is one RMA function shape: its name after the type, its
// parameters after a context, and the body that implements it with the
// context in ctx, the element size in SIZE and the function's name in
// CALL.
type rmaOp struct {
	op, ret, params, body string
}

func rmaOps(t string) []rmaOp {
	ops := []rmaOp{
		{"put", "void", t + " *dest, const " + t + " *source, size_t nelems, int pe", "gs_put(ctx, CALL, dest, source, nelems, SIZE, pe, 0);"},
		{"put_nbi", "void", t + " *dest, const " + t + " *source, size_t nelems, int pe", "gs_put(ctx, CALL, dest, source, nelems, SIZE, pe, 1);"},
		{"get", "void", t + " *dest, const " + t + " *source, size_t nelems, int pe", "gs_get(ctx, CALL, dest, source, nelems, SIZE, pe, 0);"},
		{"get_nbi", "void", t + " *dest, const " + t + " *source, size_t nelems, int pe", "gs_get(ctx, CALL, dest, source, nelems, SIZE, pe, 1);"},
		{"iput", "void", t + " *dest, const " + t + " *source, ptrdiff_t dst, ptrdiff_t sst, size_t nelems, int pe", "gs_iput(ctx, CALL, dest, source, dst, sst, nelems, SIZE, pe);"},
		{"iget", "void", t + " *dest, const " + t + " *source, ptrdiff_t dst, ptrdiff_t sst, size_t nelems, int pe", "gs_iget(ctx, CALL, dest, source, dst, sst, nelems, SIZE, pe);"},
	}
	if t != "void" {
		ops = append(ops,
			rmaOp{"p", "void", t + " *dest, " + t + " value, int pe", "gs_p(ctx, CALL, dest, &value, SIZE, pe);"},
			rmaOp{"g", t, "const " + t + " *source, int pe", t + " v;\n    gs_g(ctx, CALL, &v, source, SIZE, pe);\n    return v;"},
		)
	}
	return ops
}

// rmaFuncs calls fn for every RMA function: its name with and without a
// context, its return type and parameters, and its body.
func rmaFuncs(fn func(name, ctxName, ret, params, body string)) {
	expand := func(name, ctxName string, o rmaOp, size string) {
		body := o.body
		body = replaceAll(body, "SIZE", size)
		fn(name, ctxName, o.ret, o.params, body)
	}
	for _, t := range rmaTypes {
		for _, o := range rmaOps(t.c) {
			expand("shmem_"+t.name+"_"+o.op, "shmem_ctx_"+t.name+"_"+o.op, o, "sizeof("+t.c+")")
		}
	}
	for _, bits := range []int{8, 16, 32, 64, 128} {
		for _, o := range rmaOps("void") {
			suffix := ""
			base := o.op
			if o.op == "put_nbi" || o.op == "get_nbi" {
				base, suffix = o.op[:3], "_nbi"
			}
			name := fmt.Sprintf("%s%d%s", base, bits, suffix)
			expand("shmem_"+name, "shmem_ctx_"+name, o, fmt.Sprint(bits/8))
		}
	}
	for _, o := range rmaOps("void") {
		if o.op == "iput" || o.op == "iget" {
			continue
		}
		base, suffix := o.op, ""
		if o.op == "put_nbi" || o.op == "get_nbi" {
			base, suffix = o.op[:3], "_nbi"
		}
		expand("shmem_"+base+"mem"+suffix, "shmem_ctx_"+base+"mem"+suffix, o, "1")
	}
}

func rmaDecls(w *bytes.Buffer) {
	rmaFuncs(func(name, ctxName, ret, params, _ string) {
		fmt.Fprintf(w, "%s %s(%s);\n%s %s(shmem_ctx_t ctx, %s);\n", ret, name, params, ret, ctxName, params)
	})
}

func rmaDefs(w *bytes.Buffer) {
	rmaFuncs(func(name, ctxName, ret, params, body string) {
		// Both forms call the size-generic routine themselves: a call of
		// one exported function from the other would go through the PLT.
		fmt.Fprintf(w, "%s %s(shmem_ctx_t ctx, %s) {\n    %s\n}\n", ret, ctxName, params, replaceAll(body, "CALL", `"`+ctxName+`"`))
		fmt.Fprintf(w, "%s %s(%s) {\n    shmem_ctx_t ctx = SHMEM_CTX_DEFAULT;\n    %s\n}\n\n", ret, name, params, replaceAll(body, "CALL", `"`+name+`"`))
	})
}

func rmaGenerics(w *bytes.Buffer) {
	for _, op := range []string{"put", "put_nbi", "get", "get_nbi", "iput", "iget", "p", "g"} {
		generic(w, "shmem_"+op, op, genericTypes, 0, true)
	}
}

func replaceAll(s, old, new string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(old), []byte(new)))
}
