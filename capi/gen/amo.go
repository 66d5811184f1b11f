package main

import (
	"bytes"
	"fmt"
	"strings"
)

// amoFamily is OpenSHMEM 1.5's sections 9.10 (atomics, blocking and
// non-blocking fetching, on the default context and an explicit one, and
// their deprecated names), 9.9 (put with signal, signal fetch), 9.12
// (point-to-point waits and tests) and 9.13 (distributed locks). The
// typed functions call the size-generic routines of capi/gs_amo.h; the
// untyped ones are in capi/sync.c.
func amoFamily() family {
	return family{name: "amo", decls: amoDecls, defs: amoDefs, generics: amoGenerics}
}

// amoStdTypes is Table 7 of OpenSHMEM 1.5, the standard AMO types.
var amoStdTypes = []ctype{
	{"int", "int"}, {"long", "long"}, {"long long", "longlong"}, {"unsigned int", "uint"},
	{"unsigned long", "ulong"}, {"unsigned long long", "ulonglong"}, {"int32_t", "int32"},
	{"int64_t", "int64"}, {"uint32_t", "uint32"}, {"uint64_t", "uint64"}, {"size_t", "size"},
	{"ptrdiff_t", "ptrdiff"},
}

// amoExtTypes is Table 8, the extended AMO types: fetch, set and swap.
var amoExtTypes = append(append([]ctype{}, amoStdTypes...), ctype{"float", "float"}, ctype{"double", "double"})

// amoBitTypes is Table 9, the bitwise AMO types.
var amoBitTypes = []ctype{
	{"unsigned int", "uint"}, {"unsigned long", "ulong"}, {"unsigned long long", "ulonglong"},
	{"int32_t", "int32"}, {"int64_t", "int64"}, {"uint32_t", "uint32"}, {"uint64_t", "uint64"},
}

// amoDeprecatedTypes are the types of the deprecated names (shmem_int_fadd
// ...); amoDeprecatedExtTypes those of swap, fetch and set.
var (
	amoDeprecatedTypes    = amoStdTypes[:3]
	amoDeprecatedExtTypes = append(append([]ctype{}, amoStdTypes[:3]...), ctype{"float", "float"}, ctype{"double", "double"})
)

// syncTypes is Table 11, the point-to-point synchronization types, with
// short and unsigned short that 1.5 deprecated and older codes use.
var syncTypes = []ctype{
	{"short", "short"}, {"int", "int"}, {"long", "long"}, {"long long", "longlong"},
	{"unsigned short", "ushort"}, {"unsigned int", "uint"}, {"unsigned long", "ulong"},
	{"unsigned long long", "ulonglong"}, {"int32_t", "int32"}, {"int64_t", "int64"},
	{"uint32_t", "uint32"}, {"uint64_t", "uint64"}, {"size_t", "size"}, {"ptrdiff_t", "ptrdiff"},
}

// The generic selections name each C type once (see genericTypes).
var (
	amoGenericStd = amoStdTypes[:6]
	amoGenericExt = append(append([]ctype{}, amoStdTypes[:6]...), ctype{"float", "float"}, ctype{"double", "double"})
	amoGenericBit = amoBitTypes[:5]
	syncGeneric   = syncTypes[:8]
)

// amoOp is one atomic function shape. In params and in the operand
// expressions v and cond, $T is the C type.
type amoOp struct {
	op     string  // the name after the type: atomic_fetch_add
	types  []ctype // the types it has
	fetch  bool    // returns the old value
	nbi    bool    // stores the old value at fetch (the first parameter)
	params string
	code   string // GS_AMO_...
	what   string // the name of the symmetric address in errors
	v      string
	cond   string
}

const (
	valueBits = "gs_bits(&value, sizeof($T))"
	condBits  = "gs_bits(&cond, sizeof($T))"
)

var amoOps = []amoOp{
	{"atomic_fetch", amoExtTypes, true, false, "const $T *source, int pe", "GS_AMO_FETCH", "source", "0", "0"},
	{"atomic_set", amoExtTypes, false, false, "$T *dest, $T value, int pe", "GS_AMO_SET", "dest", valueBits, "0"},
	{"atomic_swap", amoExtTypes, true, false, "$T *dest, $T value, int pe", "GS_AMO_SWAP", "dest", valueBits, "0"},
	{"atomic_compare_swap", amoStdTypes, true, false, "$T *dest, $T cond, $T value, int pe", "GS_AMO_CSWAP", "dest", valueBits, condBits},
	{"atomic_fetch_inc", amoStdTypes, true, false, "$T *dest, int pe", "GS_AMO_ADD", "dest", "1", "0"},
	{"atomic_inc", amoStdTypes, false, false, "$T *dest, int pe", "GS_AMO_ADD", "dest", "1", "0"},
	{"atomic_fetch_add", amoStdTypes, true, false, "$T *dest, $T value, int pe", "GS_AMO_ADD", "dest", valueBits, "0"},
	{"atomic_add", amoStdTypes, false, false, "$T *dest, $T value, int pe", "GS_AMO_ADD", "dest", valueBits, "0"},
	{"atomic_fetch_and", amoBitTypes, true, false, "$T *dest, $T value, int pe", "GS_AMO_AND", "dest", valueBits, "0"},
	{"atomic_and", amoBitTypes, false, false, "$T *dest, $T value, int pe", "GS_AMO_AND", "dest", valueBits, "0"},
	{"atomic_fetch_or", amoBitTypes, true, false, "$T *dest, $T value, int pe", "GS_AMO_OR", "dest", valueBits, "0"},
	{"atomic_or", amoBitTypes, false, false, "$T *dest, $T value, int pe", "GS_AMO_OR", "dest", valueBits, "0"},
	{"atomic_fetch_xor", amoBitTypes, true, false, "$T *dest, $T value, int pe", "GS_AMO_XOR", "dest", valueBits, "0"},
	{"atomic_xor", amoBitTypes, false, false, "$T *dest, $T value, int pe", "GS_AMO_XOR", "dest", valueBits, "0"},
	{"atomic_fetch_nbi", amoExtTypes, false, true, "$T *fetch, const $T *source, int pe", "GS_AMO_FETCH", "source", "0", "0"},
	{"atomic_swap_nbi", amoExtTypes, false, true, "$T *fetch, $T *dest, $T value, int pe", "GS_AMO_SWAP", "dest", valueBits, "0"},
	{"atomic_compare_swap_nbi", amoStdTypes, false, true, "$T *fetch, $T *dest, $T cond, $T value, int pe", "GS_AMO_CSWAP", "dest", valueBits, condBits},
	{"atomic_fetch_inc_nbi", amoStdTypes, false, true, "$T *fetch, $T *dest, int pe", "GS_AMO_ADD", "dest", "1", "0"},
	{"atomic_fetch_add_nbi", amoStdTypes, false, true, "$T *fetch, $T *dest, $T value, int pe", "GS_AMO_ADD", "dest", valueBits, "0"},
	{"atomic_fetch_and_nbi", amoBitTypes, false, true, "$T *fetch, $T *dest, $T value, int pe", "GS_AMO_AND", "dest", valueBits, "0"},
	{"atomic_fetch_or_nbi", amoBitTypes, false, true, "$T *fetch, $T *dest, $T value, int pe", "GS_AMO_OR", "dest", valueBits, "0"},
	{"atomic_fetch_xor_nbi", amoBitTypes, false, true, "$T *fetch, $T *dest, $T value, int pe", "GS_AMO_XOR", "dest", valueBits, "0"},
}

// amoDeprecated are the names OpenSHMEM 1.4 deprecated, default context
// only.
var amoDeprecated = []amoOp{
	{"fetch", amoDeprecatedExtTypes, true, false, "const $T *source, int pe", "GS_AMO_FETCH", "source", "0", "0"},
	{"set", amoDeprecatedExtTypes, false, false, "$T *dest, $T value, int pe", "GS_AMO_SET", "dest", valueBits, "0"},
	{"swap", amoDeprecatedExtTypes, true, false, "$T *dest, $T value, int pe", "GS_AMO_SWAP", "dest", valueBits, "0"},
	{"cswap", amoDeprecatedTypes, true, false, "$T *dest, $T cond, $T value, int pe", "GS_AMO_CSWAP", "dest", valueBits, condBits},
	{"finc", amoDeprecatedTypes, true, false, "$T *dest, int pe", "GS_AMO_ADD", "dest", "1", "0"},
	{"inc", amoDeprecatedTypes, false, false, "$T *dest, int pe", "GS_AMO_ADD", "dest", "1", "0"},
	{"fadd", amoDeprecatedTypes, true, false, "$T *dest, $T value, int pe", "GS_AMO_ADD", "dest", valueBits, "0"},
	{"add", amoDeprecatedTypes, false, false, "$T *dest, $T value, int pe", "GS_AMO_ADD", "dest", valueBits, "0"},
}

// amoFunc is one function: its name, the name of its context form (""
// when it has none), its return type and parameters (after a context),
// and its body, in which ctx is the context and CALL the function's name.
type amoFunc struct {
	name, ctxName, ret, params, body string
}

func (o amoOp) fn(t ctype, name, ctxName string) amoFunc {
	sub := func(s string) string { return strings.ReplaceAll(s, "$T", t.c) }
	args := fmt.Sprintf(`ctx, CALL, %s, "%s", `, o.code, o.what)
	operands := fmt.Sprintf("sizeof(%s), %s, %s, pe", t.c, sub(o.v), sub(o.cond))
	f := amoFunc{name: name, ctxName: ctxName, ret: "void", params: sub(o.params)}
	switch {
	case o.nbi:
		f.body = fmt.Sprintf("gs_amo_nbi(%sfetch, %s, %s);", args, o.what, operands)
	case o.fetch:
		f.ret = t.c
		f.body = fmt.Sprintf("%s r;\n    gs_from_bits(&r, gs_amo(%s%s, %s), sizeof(%s));\n    return r;", t.c, args, o.what, operands, t.c)
	default:
		f.body = fmt.Sprintf("gs_amo(%s%s, %s);", args, o.what, operands)
	}
	return f
}

// waitOp is one wait or test shape: $T is the C type, $K its kind.
type waitOp struct {
	op, ret, params, body string
}

var waitOps = []waitOp{
	{"wait_until", "void", "$T *ivar, int cmp, $T cmp_value",
		"gs_wait(CALL, 0, GS_W_ONE, ivar, 1, sizeof($T), $K, NULL, cmp, gs_bits(&cmp_value, sizeof($T)), NULL, NULL);"},
	{"wait_until_all", "void", "$T *ivars, size_t nelems, const int *status, int cmp, $T cmp_value",
		"gs_wait(CALL, 0, GS_W_ALL, ivars, nelems, sizeof($T), $K, status, cmp, gs_bits(&cmp_value, sizeof($T)), NULL, NULL);"},
	{"wait_until_any", "size_t", "$T *ivars, size_t nelems, const int *status, int cmp, $T cmp_value",
		"return gs_wait(CALL, 0, GS_W_ANY, ivars, nelems, sizeof($T), $K, status, cmp, gs_bits(&cmp_value, sizeof($T)), NULL, NULL);"},
	{"wait_until_some", "size_t", "$T *ivars, size_t nelems, size_t *indices, const int *status, int cmp, $T cmp_value",
		"return gs_wait(CALL, 0, GS_W_SOME, ivars, nelems, sizeof($T), $K, status, cmp, gs_bits(&cmp_value, sizeof($T)), NULL, indices);"},
	{"wait_until_all_vector", "void", "$T *ivars, size_t nelems, const int *status, int cmp, $T *cmp_values",
		"gs_wait_vector(CALL, 0, GS_W_ALL, ivars, nelems, sizeof($T), $K, status, cmp, cmp_values, NULL);"},
	{"wait_until_any_vector", "size_t", "$T *ivars, size_t nelems, const int *status, int cmp, $T *cmp_values",
		"return gs_wait_vector(CALL, 0, GS_W_ANY, ivars, nelems, sizeof($T), $K, status, cmp, cmp_values, NULL);"},
	{"wait_until_some_vector", "size_t", "$T *ivars, size_t nelems, size_t *indices, const int *status, int cmp, $T *cmp_values",
		"return gs_wait_vector(CALL, 0, GS_W_SOME, ivars, nelems, sizeof($T), $K, status, cmp, cmp_values, indices);"},
	{"test", "int", "$T *ivar, int cmp, $T cmp_value",
		"return (int)gs_wait(CALL, 1, GS_W_ONE, ivar, 1, sizeof($T), $K, NULL, cmp, gs_bits(&cmp_value, sizeof($T)), NULL, NULL);"},
	{"test_all", "int", "$T *ivars, size_t nelems, const int *status, int cmp, $T cmp_value",
		"return (int)gs_wait(CALL, 1, GS_W_ALL, ivars, nelems, sizeof($T), $K, status, cmp, gs_bits(&cmp_value, sizeof($T)), NULL, NULL);"},
	{"test_any", "size_t", "$T *ivars, size_t nelems, const int *status, int cmp, $T cmp_value",
		"return gs_wait(CALL, 1, GS_W_ANY, ivars, nelems, sizeof($T), $K, status, cmp, gs_bits(&cmp_value, sizeof($T)), NULL, NULL);"},
	{"test_some", "size_t", "$T *ivars, size_t nelems, size_t *indices, const int *status, int cmp, $T cmp_value",
		"return gs_wait(CALL, 1, GS_W_SOME, ivars, nelems, sizeof($T), $K, status, cmp, gs_bits(&cmp_value, sizeof($T)), NULL, indices);"},
	{"test_all_vector", "int", "$T *ivars, size_t nelems, const int *status, int cmp, $T *cmp_values",
		"return (int)gs_wait_vector(CALL, 1, GS_W_ALL, ivars, nelems, sizeof($T), $K, status, cmp, cmp_values, NULL);"},
	{"test_any_vector", "size_t", "$T *ivars, size_t nelems, const int *status, int cmp, $T *cmp_values",
		"return gs_wait_vector(CALL, 1, GS_W_ANY, ivars, nelems, sizeof($T), $K, status, cmp, cmp_values, NULL);"},
	{"test_some_vector", "size_t", "$T *ivars, size_t nelems, size_t *indices, const int *status, int cmp, $T *cmp_values",
		"return gs_wait_vector(CALL, 1, GS_W_SOME, ivars, nelems, sizeof($T), $K, status, cmp, cmp_values, indices);"},
}

// waitDeprecated are the types of the deprecated shmem_TYPENAME_wait.
var waitDeprecated = syncTypes[:4]

// amoFuncs calls fn for every typed function of the family.
func amoFuncs(fn func(f amoFunc)) {
	for _, o := range amoOps {
		for _, t := range o.types {
			fn(o.fn(t, "shmem_"+t.name+"_"+o.op, "shmem_ctx_"+t.name+"_"+o.op))
		}
	}
	for _, o := range amoDeprecated {
		for _, t := range o.types {
			fn(o.fn(t, "shmem_"+t.name+"_"+o.op, ""))
		}
	}
	// Put with signal: the RMA types, the sizes and mem.
	signal := func(name, ctxName, t, size string, nbi int) {
		fn(amoFunc{name, ctxName, "void",
			t + " *dest, const " + t + " *source, size_t nelems, uint64_t *sig_addr, uint64_t signal, int sig_op, int pe",
			fmt.Sprintf("gs_put_signal(ctx, CALL, dest, source, nelems, %s, sig_addr, signal, sig_op, pe, %d);", size, nbi)})
	}
	for _, t := range rmaTypes {
		for nbi, sfx := range []string{"", "_nbi"} {
			signal("shmem_"+t.name+"_put_signal"+sfx, "shmem_ctx_"+t.name+"_put_signal"+sfx, t.c, "sizeof("+t.c+")", nbi)
		}
	}
	for _, bits := range []int{8, 16, 32, 64, 128} {
		for nbi, sfx := range []string{"", "_nbi"} {
			name := fmt.Sprintf("put%d_signal%s", bits, sfx)
			signal("shmem_"+name, "shmem_ctx_"+name, "void", fmt.Sprint(bits/8), nbi)
		}
	}
	for nbi, sfx := range []string{"", "_nbi"} {
		signal("shmem_putmem_signal"+sfx, "shmem_ctx_putmem_signal"+sfx, "void", "1", nbi)
	}
	// Waits and tests.
	for _, t := range syncTypes {
		sub := strings.NewReplacer("$T", t.c, "$K", "GS_KIND("+t.c+")").Replace
		for _, o := range waitOps {
			fn(amoFunc{"shmem_" + t.name + "_" + o.op, "", o.ret, sub(o.params), sub(o.body)})
		}
	}
	for _, t := range waitDeprecated {
		fn(amoFunc{"shmem_" + t.name + "_wait", "", "void", t.c + " *ivar, " + t.c + " cmp_value",
			fmt.Sprintf("gs_wait(CALL, 0, GS_W_ONE, ivar, 1, sizeof(%[1]s), GS_KIND(%[1]s), NULL, SHMEM_CMP_NE, gs_bits(&cmp_value, sizeof(%[1]s)), NULL, NULL);", t.c)})
	}
}

func amoDecls(w *bytes.Buffer) {
	w.WriteString(`/* Signals, locks and the deprecated long-only names. */
uint64_t shmem_signal_fetch(const uint64_t *sig_addr);
uint64_t shmem_signal_wait_until(uint64_t *sig_addr, int cmp, uint64_t cmp_value);
void shmem_set_lock(long *lock);
void shmem_clear_lock(long *lock);
int shmem_test_lock(long *lock);
void shmem_wait(long *ivar, long cmp_value);
void shmem_wait_until(long *ivar, int cmp, long cmp_value);
long shmem_swap(long *dest, long value, int pe);
`)
	amoFuncs(func(f amoFunc) {
		fmt.Fprintf(w, "%s %s(%s);\n", f.ret, f.name, f.params)
		if f.ctxName != "" {
			fmt.Fprintf(w, "%s %s(shmem_ctx_t ctx, %s);\n", f.ret, f.ctxName, f.params)
		}
	})
}

func amoDefs(w *bytes.Buffer) {
	w.WriteString("#include \"gs_amo.h\"\n\n")
	amoFuncs(func(f amoFunc) {
		// Both forms call the size-generic routine themselves (see rmaDefs).
		if f.ctxName != "" {
			fmt.Fprintf(w, "%s %s(shmem_ctx_t ctx, %s) {\n    %s\n}\n", f.ret, f.ctxName, f.params, replaceAll(f.body, "CALL", `"`+f.ctxName+`"`))
			fmt.Fprintf(w, "%s %s(%s) {\n    shmem_ctx_t ctx = SHMEM_CTX_DEFAULT;\n    %s\n}\n\n", f.ret, f.name, f.params, replaceAll(f.body, "CALL", `"`+f.name+`"`))
			return
		}
		fmt.Fprintf(w, "%s %s(%s) {\n", f.ret, f.name, f.params)
		if strings.Contains(f.body, "ctx") {
			w.WriteString("    shmem_ctx_t ctx = SHMEM_CTX_DEFAULT;\n")
		}
		fmt.Fprintf(w, "    %s\n}\n\n", replaceAll(f.body, "CALL", `"`+f.name+`"`))
	})
}

func amoGenerics(w *bytes.Buffer) {
	for _, o := range amoOps {
		types := amoGenericStd
		switch {
		case len(o.types) == len(amoExtTypes):
			types = amoGenericExt
		case len(o.types) == len(amoBitTypes):
			types = amoGenericBit
		}
		generic(w, "shmem_"+o.op, o.op, types, 0, true)
	}
	for _, o := range amoDeprecated {
		types := amoDeprecatedTypes
		if len(o.types) == len(amoDeprecatedExtTypes) {
			types = amoDeprecatedExtTypes
		}
		generic(w, "shmem_"+o.op, o.op, types, 0, false)
	}
	generic(w, "shmem_put_signal", "put_signal", genericTypes, 0, true)
	generic(w, "shmem_put_signal_nbi", "put_signal_nbi", genericTypes, 0, true)
	for _, o := range waitOps {
		generic(w, "shmem_"+o.op, o.op, syncGeneric, 0, false)
	}
}
