//go:build cgo

package capi_test

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/cbuild"
)

// undefinedOnPurpose are names the headers declare that no library
// defines: a call of one is how a C11 generic interface reports an
// argument of no OpenSHMEM type, at link time.
var undefinedOnPurpose = map[string]bool{"gshmem_generic_no_match_": true}

// headerSymbol is a function or object that include/shmem.h or shmemx.h
// declares with external linkage.
type headerSymbol struct {
	name string
	fn   bool   // a function, else an object
	decl string // the declaration, for messages
}

// headerSymbols preprocesses the public headers (as a C11 program
// including both sees them) and returns every function and extern object
// they declare, in the order declared. Declarations from the system
// headers they include are left out (by the preprocessor's line markers),
// as are static and inline functions, typedefs and tags.
func headerSymbols(t *testing.T, includeDir string) []headerSymbol {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cbuild.CC(), "-std=c11", "-E", "-I"+includeDir, "-x", "c", "-")
	cmd.Stdin = strings.NewReader("#include <shmem.h>\n#include <shmemx.h>\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "preprocessing the headers: %s", stderr.String())
	return parseDecls(string(ownLines(out, includeDir)))
}

var lineMarker = regexp.MustCompile(`^# \d+ "([^"]*)"`)

// ownLines keeps, of the preprocessor's output pp, the lines that come
// from files in includeDir.
func ownLines(pp []byte, includeDir string) []byte {
	var b bytes.Buffer
	mine := false
	sc := bufio.NewScanner(bytes.NewReader(pp))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if m := lineMarker.FindStringSubmatch(line); m != nil {
			f, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				f = m[1]
			}
			mine = filepath.Dir(filepath.Clean(f)) == filepath.Clean(includeDir)
			continue
		}
		if mine {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

var (
	attribute = regexp.MustCompile(`__attribute__\s*\(\(`)
	ident     = regexp.MustCompile(`[A-Za-z_]\w*`)
	storage   = regexp.MustCompile(`\b(static|inline|__inline__|__inline|typedef)\b`)
	space     = regexp.MustCompile(`\s+`)
)

// stripAttributes removes every __attribute__((...)) from s.
func stripAttributes(s string) string {
	for {
		loc := attribute.FindStringIndex(s)
		if loc == nil {
			return s
		}
		depth, i := 2, loc[1]
		for ; i < len(s) && depth > 0; i++ {
			switch s[i] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		s = s[:loc[0]] + " " + s[i:]
	}
}

// parseDecls splits preprocessed C into top-level declarations and
// returns the functions and extern objects among them.
func parseDecls(src string) []headerSymbol {
	var syms []headerSymbol
	var stmt strings.Builder
	depth := 0
	head := "" // a statement's text before its first top-level brace
	flush := func() {
		s := strings.TrimSpace(space.ReplaceAllString(stmt.String(), " "))
		stmt.Reset()
		head = ""
		if s == "" || storage.MatchString(s) {
			return
		}
		if sym, ok := declSymbol(s); ok {
			syms = append(syms, sym)
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '{':
			if depth == 0 {
				head = stmt.String()
			}
			depth++
		case c == '}':
			depth--
			if depth == 0 && strings.HasSuffix(strings.TrimSpace(head), ")") {
				// A function's definition (static inline, say): no
				// symbol of the library.
				stmt.Reset()
				head = ""
			}
		case depth > 0:
			// The members of a struct, union or enum.
		case c == ';':
			flush()
		default:
			stmt.WriteByte(c)
		}
	}
	return syms
}

// declSymbol returns the symbol that one declaration (no storage class
// but extern, no body, no trailing semicolon) declares, if it declares a
// function or an extern object.
func declSymbol(s string) (headerSymbol, bool) {
	d := stripAttributes(s)
	d = strings.TrimSpace(strings.ReplaceAll(d, "_Noreturn", ""))
	if p := strings.IndexByte(d, '('); p >= 0 {
		// A function, unless the parenthesis opens a declarator: a
		// pointer to a function, "extern void (*f)(void)", an object.
		if strings.HasPrefix(strings.TrimSpace(d[p+1:]), "*") {
			if !strings.HasPrefix(d, "extern ") {
				return headerSymbol{}, false
			}
			return headerSymbol{name: ident.FindString(d[p+1:]), decl: s}, true
		}
		names := ident.FindAllString(d[:p], -1)
		if len(names) < 2 { // a type and a name, at least
			return headerSymbol{}, false
		}
		return headerSymbol{name: names[len(names)-1], fn: true, decl: s}, true
	}
	if !strings.HasPrefix(d, "extern ") {
		return headerSymbol{}, false
	}
	if p := strings.IndexByte(d, '['); p >= 0 {
		d = d[:p]
	}
	names := ident.FindAllString(d, -1)
	return headerSymbol{name: names[len(names)-1], decl: s}, true
}

// The program that loads the library as a C program would, with every
// symbol bound now, and looks up the names on its standard input.
const dlsymProgram = `#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    char name[512];
    int missing = 0;
    while (fgets(name, sizeof name, stdin) != NULL) {
        name[strcspn(name, "\n")] = 0;
        dlerror();
        if (dlsym(h, name) == NULL) {
            printf("missing: %s\n", name);
            missing++;
        }
    }
    return missing ? 1 : 0;
}
`

// TestHeaderSymbolsDefined checks that every function and object that
// include/shmem.h and include/shmemx.h declare is defined by
// libgshmem.so: exported with the kind declared (function or object),
// and found by dlsym in the library loaded with RTLD_NOW (which also
// fails on a reference of the library's own that nothing defines). A
// declaration without a definition would otherwise surface only as a
// link error in the first program that calls it. The headers are read
// now, so new families are checked as they are generated.
func TestHeaderSymbolsDefined(t *testing.T) {
	ld := libDir(t)
	root, err := cbuild.Root(".")
	require.NoError(t, err)
	syms := headerSymbols(t, filepath.Join(root, "include"))
	// A sanity bound, so that a parser that finds nothing fails.
	require.Greater(t, len(syms), 300, "too few declarations found in the headers: is the parser broken?")
	byName := map[string]headerSymbol{}
	for _, s := range syms {
		byName[s.name] = s
	}
	for _, want := range []string{"shmem_init", "shmem_long_put", "shmemx_run", "shmem_team_split_strided"} {
		require.Contains(t, byName, want, "the parser missed a declaration")
	}

	// The dynamic symbol table, as nm -D --defined-only lists it.
	f, err := elf.Open(filepath.Join(ld, cbuild.LibName))
	require.NoError(t, err)
	defer f.Close()
	dyn, err := f.DynamicSymbols()
	require.NoError(t, err)
	defined := map[string]elf.SymType{}
	for _, s := range dyn {
		if s.Section != elf.SHN_UNDEF {
			defined[s.Name] = elf.ST_TYPE(s.Info)
		}
	}
	var bad, names []string
	for _, s := range syms {
		if undefinedOnPurpose[s.name] {
			continue
		}
		names = append(names, s.name)
		typ, ok := defined[s.name]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s: declared, not defined (%s;)", s.name, s.decl))
		case s.fn && typ != elf.STT_FUNC:
			bad = append(bad, fmt.Sprintf("%s: declared a function, defined as %v", s.name, typ))
		case !s.fn && typ != elf.STT_OBJECT && typ != elf.STT_TLS:
			bad = append(bad, fmt.Sprintf("%s: declared an object, defined as %v", s.name, typ))
		}
	}
	sort.Strings(bad)
	require.Empty(t, bad, "libgshmem.so lacks %d of the %d symbols the headers declare", len(bad), len(names))

	dir := t.TempDir()
	src := filepath.Join(dir, "dlsym.c")
	require.NoError(t, os.WriteFile(src, []byte(dlsymProgram), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "dlsym")
	cc := exec.CommandContext(ctx, cbuild.CC(), "-std=c11", "-Wall", "-Werror", "-o", bin, src, "-ldl")
	out, err := cc.CombinedOutput()
	require.NoError(t, err, "%s", out)
	run := exec.CommandContext(ctx, bin, filepath.Join(ld, cbuild.LibName))
	run.Stdin = strings.NewReader(strings.Join(names, "\n") + "\n")
	out, err = run.CombinedOutput()
	require.NoError(t, err, "dlsym of the headers' symbols in libgshmem.so:\n%s", out)
}

// TestParseDecls checks the declaration parser on what the headers may
// come to hold.
func TestParseDecls(t *testing.T) {
	src := `typedef struct { int a; long b; } cfg_t;
typedef struct gshmem_ctx *shmem_ctx_t;
struct tag { int x; };
enum { A = 1, B };
extern struct gshmem_team gshmem_team_world;
extern int gshmem_table[4];
void shmem_init(void);
void shmem_global_exit(int status) __attribute__((noreturn));
_Noreturn void shmemx_die(int);
__attribute__((visibility("default"))) long *shmem_ptrfn(const void *p, int pe);
int shmemx_run(int npes, void (*fn)(void *arg), void *arg);
static inline int shmem_inline(void) { if (1) { return 1; } return 0; }
int shmem_after_inline(void);
extern void (*gshmem_hook)(void);
double _Complex shmem_complexd_g(const double _Complex *s,
                                 int pe);
`
	var got []string
	for _, s := range parseDecls(src) {
		got = append(got, fmt.Sprintf("%s/%v", s.name, s.fn))
	}
	require.Equal(t, []string{
		"gshmem_team_world/false", "gshmem_table/false", "shmem_init/true", "shmem_global_exit/true",
		"shmemx_die/true", "shmem_ptrfn/true", "shmemx_run/true", "shmem_after_inline/true",
		"gshmem_hook/false", "shmem_complexd_g/true",
	}, got)
}
