package main

import (
	"bytes"
	"fmt"
	"strings"
)

// collFamily is OpenSHMEM 1.5's sections 9.4 (teams), 9.5 (contexts) and
// 9.9 (collectives): the team and context routines, the typed and mem
// collectives on a team, the reductions, and the deprecated active-set
// forms (shmem_barrier, shmem_broadcast32, shmem_TYPENAME_OP_to_all, ...)
// that existing codes still call.
func collFamily() family {
	return family{name: "coll", decls: collDecls, defs: collDefs, generics: collGenerics}
}

// redType is a type of the reductions: its C type and TYPENAME, and the
// expression naming its element type for Go (gs_coll.h's GS_DT_*).
type redType struct {
	ctype
	dt string
}

func intRed(c, name string) redType { return redType{ctype{c, name}, "GS_DT_INT(" + c + ")"} }

var (
	// Table 10 of OpenSHMEM 1.5: the bitwise reductions' types.
	bitwiseTypes = []redType{
		intRed("unsigned char", "uchar"), intRed("unsigned short", "ushort"), intRed("unsigned int", "uint"),
		intRed("unsigned long", "ulong"), intRed("unsigned long long", "ulonglong"),
		intRed("int8_t", "int8"), intRed("int16_t", "int16"), intRed("int32_t", "int32"), intRed("int64_t", "int64"),
		intRed("uint8_t", "uint8"), intRed("uint16_t", "uint16"), intRed("uint32_t", "uint32"), intRed("uint64_t", "uint64"),
		intRed("size_t", "size"),
	}
	// the signed integer types, which have no bitwise reductions
	signedTypes = []redType{
		intRed("char", "char"), intRed("signed char", "schar"), intRed("short", "short"), intRed("int", "int"),
		intRed("long", "long"), intRed("long long", "longlong"), intRed("ptrdiff_t", "ptrdiff"),
	}
	floatTypes = []redType{
		{ctype{"float", "float"}, "GS_DT_F32"}, {ctype{"double", "double"}, "GS_DT_F64"},
		{ctype{"long double", "longdouble"}, "GS_DT_NONE"},
	}
	complexTypes = []redType{
		{ctype{"double _Complex", "complexd"}, "GS_DT_C128"}, {ctype{"float _Complex", "complexf"}, "GS_DT_C64"},
	}
	// the min and max reductions' types
	minmaxTypes = concat(signedTypes, bitwiseTypes, floatTypes)
	// the sum and prod reductions' types
	arithTypes = concat(minmaxTypes, complexTypes)
)

func concat(lists ...[]redType) []redType {
	var out []redType
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// reduceOps are the reductions with the types each is defined on.
var reduceOps = []struct {
	op, code string
	types    []redType
}{
	{"and", "GS_OP_AND", bitwiseTypes}, {"or", "GS_OP_OR", bitwiseTypes}, {"xor", "GS_OP_XOR", bitwiseTypes},
	{"max", "GS_OP_MAX", minmaxTypes}, {"min", "GS_OP_MIN", minmaxTypes},
	{"sum", "GS_OP_SUM", arithTypes}, {"prod", "GS_OP_PROD", arithTypes},
}

// toAllTypes are OpenSHMEM 1.4's types of shmem_TYPENAME_OP_to_all.
func toAllTypes(op string) []redType {
	ints := []redType{intRed("short", "short"), intRed("int", "int"), intRed("long", "long"), intRed("long long", "longlong")}
	switch op {
	case "and", "or", "xor":
		return ints
	case "max", "min":
		return concat(ints, floatTypes)
	}
	return concat(ints, floatTypes, []redType{complexTypes[1], complexTypes[0]})
}

// collFuncs calls fn for every generated function: its declaration (return
// type, name, parameters) and its body.
func collFuncs(fn func(ret, name, params, body string)) {
	// Data movement on a team, typed and mem.
	type mover struct{ op, params, args string }
	movers := func(t string) []mover {
		return []mover{
			{"broadcast", "shmem_team_t team, T *dest, const T *source, size_t nelems, int PE_root", "GS_BCAST, DT, 0, NULL, dest, source, nelems, SIZE, PE_root, 1, 1"},
			{"collect", "shmem_team_t team, T *dest, const T *source, size_t nelems", "GS_COLLECT, DT, 0, NULL, dest, source, nelems, SIZE, 0, 1, 1"},
			{"fcollect", "shmem_team_t team, T *dest, const T *source, size_t nelems", "GS_FCOLLECT, DT, 0, NULL, dest, source, nelems, SIZE, 0, 1, 1"},
			{"alltoall", "shmem_team_t team, T *dest, const T *source, size_t nelems", "GS_ALLTOALL, DT, 0, NULL, dest, source, nelems, SIZE, 0, 1, 1"},
			{"alltoalls", "shmem_team_t team, T *dest, const T *source, ptrdiff_t dst, ptrdiff_t sst, size_t nelems", "GS_ALLTOALLS, DT, 0, NULL, dest, source, nelems, SIZE, 0, dst, sst"},
		}
	}
	teamCall := func(name, t, size, dt string, m mover) {
		params := strings.ReplaceAll(m.params, "T *", t+" *")
		args := strings.NewReplacer("DT", dt, "SIZE", size).Replace(m.args)
		fn("int", name, params, fmt.Sprintf("return gs_team_coll(team, %q, %s);", name, args))
	}
	for _, t := range rmaTypes {
		for _, m := range movers(t.c) {
			teamCall("shmem_"+t.name+"_"+m.op, t.c, "sizeof("+t.c+")", "gs_dt_uint(sizeof("+t.c+"))", m)
		}
	}
	for _, m := range movers("void") {
		teamCall("shmem_"+m.op+"mem", "void", "1", "GS_DT_U8", m)
	}
	// Reductions on a team.
	for _, r := range reduceOps {
		for _, t := range r.types {
			name := "shmem_" + t.name + "_" + r.op + "_reduce"
			fn("int", name, "shmem_team_t team, "+t.c+" *dest, const "+t.c+" *source, size_t nreduce",
				fmt.Sprintf("return gs_team_coll(team, %q, GS_REDUCE, %s, %s, gs_comb_%s_%s, dest, source, nreduce, sizeof(%s), 0, 1, 1);",
					name, t.dt, r.code, t.name, r.op, t.c))
		}
	}
	// The deprecated active-set forms.
	asTail := "int PE_start, int logPE_stride, int PE_size, long *pSync"
	for _, bits := range []int{32, 64} {
		size := fmt.Sprint(bits / 8)
		dt := fmt.Sprintf("GS_DT_U%d", bits)
		for _, d := range []struct{ op, params, args string }{
			{"broadcast", "void *dest, const void *source, size_t nelems, int PE_root, ", "GS_BCAST, %s, 0, NULL, dest, source, nelems, %s, PE_root, 1, 1"},
			{"collect", "void *dest, const void *source, size_t nelems, ", "GS_COLLECT, %s, 0, NULL, dest, source, nelems, %s, 0, 1, 1"},
			{"fcollect", "void *dest, const void *source, size_t nelems, ", "GS_FCOLLECT, %s, 0, NULL, dest, source, nelems, %s, 0, 1, 1"},
			{"alltoall", "void *dest, const void *source, size_t nelems, ", "GS_ALLTOALL, %s, 0, NULL, dest, source, nelems, %s, 0, 1, 1"},
			{"alltoalls", "void *dest, const void *source, ptrdiff_t dst, ptrdiff_t sst, size_t nelems, ", "GS_ALLTOALLS, %s, 0, NULL, dest, source, nelems, %s, 0, dst, sst"},
		} {
			name := fmt.Sprintf("shmem_%s%d", d.op, bits)
			fn("void", name, d.params+asTail, fmt.Sprintf("gs_as_coll(%q, %s, PE_start, logPE_stride, PE_size, pSync);", name, fmt.Sprintf(d.args, dt, size)))
		}
	}
	for _, r := range reduceOps {
		for _, t := range toAllTypes(r.op) {
			name := "shmem_" + t.name + "_" + r.op + "_to_all"
			fn("void", name, fmt.Sprintf("%s *dest, const %s *source, int nreduce, int PE_start, int logPE_stride, int PE_size, %s *pWrk, long *pSync", t.c, t.c, t.c),
				fmt.Sprintf("(void)pWrk;\n    gs_as_coll(%q, GS_REDUCE, %s, %s, gs_comb_%s_%s, dest, source, gs_count(%q, nreduce), sizeof(%s), 0, 1, 1, PE_start, logPE_stride, PE_size, pSync);",
					name, t.dt, r.code, t.name, r.op, name, t.c))
		}
	}
}

func collDecls(w *bytes.Buffer) {
	w.WriteString(`/* Teams. */
int shmem_team_my_pe(shmem_team_t team);
int shmem_team_n_pes(shmem_team_t team);
int shmem_team_get_config(shmem_team_t team, long config_mask, shmem_team_config_t *config);
int shmem_team_translate_pe(shmem_team_t src_team, int src_pe, shmem_team_t dest_team);
int shmem_team_split_strided(shmem_team_t parent_team, int start, int stride, int size,
                             const shmem_team_config_t *config, long config_mask, shmem_team_t *new_team);
int shmem_team_split_2d(shmem_team_t parent_team, int xrange, const shmem_team_config_t *xaxis_config,
                        long xaxis_mask, shmem_team_t *xaxis_team, const shmem_team_config_t *yaxis_config,
                        long yaxis_mask, shmem_team_t *yaxis_team);
void shmem_team_destroy(shmem_team_t team);
int shmem_team_sync(shmem_team_t team);

/* Contexts. */
int shmem_ctx_create(long options, shmem_ctx_t *ctx);
int shmem_team_create_ctx(shmem_team_t team, long options, shmem_ctx_t *ctx);
void shmem_ctx_destroy(shmem_ctx_t ctx);
int shmem_ctx_get_team(shmem_ctx_t ctx, shmem_team_t *team);

/* Deprecated active-set synchronisation. */
void shmem_barrier(int PE_start, int logPE_stride, int PE_size, long *pSync);
void shmem_sync(int PE_start, int logPE_stride, int PE_size, long *pSync);

/* Collectives. */
`)
	collFuncs(func(ret, name, params, _ string) {
		fmt.Fprintf(w, "%s %s(%s);\n", ret, name, params)
	})
}

func collDefs(w *bytes.Buffer) {
	w.WriteString("#include \"gs_coll.h\"\n\n/* The reductions' combine functions, for the reductions that run in C. */\n")
	seen := map[string]bool{}
	comb := func(t redType, op string) {
		name := t.name + "_" + op
		if seen[name] {
			return
		}
		seen[name] = true
		var expr string
		switch op {
		case "and":
			expr = "x[i] & y[i]"
		case "or":
			expr = "x[i] | y[i]"
		case "xor":
			expr = "x[i] ^ y[i]"
		case "max":
			expr = "y[i] > x[i] ? y[i] : x[i]"
		case "min":
			expr = "y[i] < x[i] ? y[i] : x[i]"
		case "sum":
			expr = "x[i] + y[i]"
		case "prod":
			expr = "x[i] * y[i]"
		}
		fmt.Fprintf(w, "static void gs_comb_%s(void *a, const void *b, size_t n) {\n    %s *x = a;\n    const %s *y = b;\n    for (size_t i = 0; i < n; i++) {\n        x[i] = %s;\n    }\n}\n", name, t.c, t.c, expr)
	}
	for _, r := range reduceOps {
		for _, t := range r.types {
			comb(t, r.op)
		}
		for _, t := range toAllTypes(r.op) {
			comb(t, r.op)
		}
	}
	w.WriteString("\n")
	collFuncs(func(ret, name, params, body string) {
		fmt.Fprintf(w, "%s %s(%s) {\n    %s\n}\n", ret, name, params, body)
	})
}

func collGenerics(w *bytes.Buffer) {
	for _, op := range []string{"broadcast", "collect", "fcollect", "alltoall", "alltoalls"} {
		generic(w, "shmem_"+op, op, genericTypes, 1, false)
	}
	for _, r := range reduceOps {
		in := map[string]bool{}
		for _, t := range r.types {
			in[t.name] = true
		}
		var types []ctype
		for _, t := range genericTypes {
			if in[t.name] {
				types = append(types, t)
			}
		}
		for _, t := range complexTypes {
			if in[t.name] {
				types = append(types, t.ctype)
			}
		}
		generic(w, "shmem_"+r.op+"_reduce", r.op+"_reduce", types, 1, false)
	}
}
