package config_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/config"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// shmEnv is a complete, valid environment of one shm PE.
func shmEnv() map[string]string {
	return map[string]string{
		config.EnvJob:  "job_0123abcd",
		config.EnvPE:   "1",
		config.EnvNPES: "4",
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	assert.Equal(t, config.Config{
		NPES:            config.DefaultNPES,
		PE:              -1,
		Transport:       config.TransportInproc,
		SymSize:         config.DefaultSymSize,
		LocalRank:       -1,
		LocalSize:       -1,
		BootTimeout:     config.DefaultBootTimeout,
		Prefault:        true,
		BindCPU:         -1,
		ShmDir:          config.DefaultShmDir,
		DevSymSize:      config.DefaultDevSymSize,
		Bootstrap:       config.BootstrapInproc,
		SlurmLocalID:    -1,
		PeerTimeout:     config.DefaultPeerTimeout,
		AMSizeThreshold: config.DefaultAMSizeThreshold,
	}, c)
	assert.Equal(t, uintptr(128<<20), c.SymSize)
	assert.Equal(t, 30*time.Second, c.BootTimeout)
}

// The defaults `gpurun info` prints must be the defaults Load uses: setting
// every variable to its documented default changes nothing.
func TestVarsDefaultsMatchLoad(t *testing.T) {
	want, err := config.Load(env(nil))
	require.NoError(t, err)
	m := map[string]string{}
	for _, v := range config.Vars {
		m[v.Name] = v.Default
	}
	got, err := config.Load(env(m))
	require.NoError(t, err)
	// CollPushMax is 0 ("the runtime's default") when unset; set to its
	// documented default it must hold that value.
	n, err := config.ParseSize(m[config.EnvCollPushMax])
	require.NoError(t, err)
	assert.Equal(t, uintptr(n), got.CollPushMax)
	got.CollPushMax = 0
	assert.Equal(t, want, got)
}

func TestLoadDeviceAndThreads(t *testing.T) {
	c, err := config.Load(env(map[string]string{config.EnvDevice: "cpu", config.EnvDevSymSize: "8m", config.EnvThreadsCompat: "3"}))
	require.NoError(t, err)
	assert.Equal(t, "cpu", c.Device)
	assert.Equal(t, uintptr(8<<20), c.DevSymSize)
	assert.Equal(t, 3, c.Threads)
	c, err = config.Load(env(map[string]string{config.EnvDevice: "1", config.EnvThreads: "2", config.EnvThreadsCompat: "9"}))
	require.NoError(t, err)
	assert.Equal(t, "1", c.Device)
	assert.Equal(t, 2, c.Threads, "GSHMEM_THREADS wins over LAMELLAR_THREADS")
	for k, v := range map[string]string{config.EnvDevice: "gpu0", config.EnvDevSymSize: "-1", config.EnvThreads: "0"} {
		_, err := config.Load(env(map[string]string{k: v}))
		require.Error(t, err, "%s=%s", k, v)
		assert.Contains(t, err.Error(), k)
	}
}

func TestLoadNilGetenvReadsEnvironment(t *testing.T) {
	t.Setenv(config.EnvNPES, "7")
	t.Setenv(config.EnvSymSize, "3m")
	t.Setenv(config.EnvTransport, "")
	t.Setenv(config.EnvJob, "")
	c, err := config.Load(nil)
	require.NoError(t, err)
	assert.Equal(t, 7, c.NPES)
	assert.Equal(t, uintptr(3<<20), c.SymSize)
}

func TestLoadValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c config.Config)
	}{
		{"npes", map[string]string{config.EnvNPES: "16"}, func(t *testing.T, c config.Config) { assert.Equal(t, 16, c.NPES) }},
		{"npes spaces", map[string]string{config.EnvNPES: " 8 "}, func(t *testing.T, c config.Config) { assert.Equal(t, 8, c.NPES) }},
		{"npes one", map[string]string{config.EnvNPES: "1"}, func(t *testing.T, c config.Config) { assert.Equal(t, 1, c.NPES) }},
		{"local", map[string]string{config.EnvLocalRank: "0", config.EnvLocalSize: "2"}, func(t *testing.T, c config.Config) {
			assert.Equal(t, 0, c.LocalRank)
			assert.Equal(t, 2, c.LocalSize)
		}},
		{"size k", map[string]string{config.EnvSymSize: "64k"}, func(t *testing.T, c config.Config) { assert.Equal(t, uintptr(64<<10), c.SymSize) }},
		{"size m", map[string]string{config.EnvSymSize: "2m"}, func(t *testing.T, c config.Config) { assert.Equal(t, uintptr(2<<20), c.SymSize) }},
		{"size g", map[string]string{config.EnvSymSize: "1g"}, func(t *testing.T, c config.Config) { assert.Equal(t, uintptr(1<<30), c.SymSize) }},
		{"size upper MB", map[string]string{config.EnvSymSize: "3MB"}, func(t *testing.T, c config.Config) { assert.Equal(t, uintptr(3<<20), c.SymSize) }},
		{"size bytes", map[string]string{config.EnvSymSize: "4096"}, func(t *testing.T, c config.Config) { assert.Equal(t, uintptr(4096), c.SymSize) }},
		{"size compat", map[string]string{config.EnvSymSizeCompat: "5m"}, func(t *testing.T, c config.Config) { assert.Equal(t, uintptr(5<<20), c.SymSize) }},
		{"size both: gshmem wins", map[string]string{config.EnvSymSize: "6m", config.EnvSymSizeCompat: "7m"}, func(t *testing.T, c config.Config) {
			assert.Equal(t, uintptr(6<<20), c.SymSize)
		}},
		{"size both: bad compat ignored", map[string]string{config.EnvSymSize: "6m", config.EnvSymSizeCompat: "junk"}, func(t *testing.T, c config.Config) {
			assert.Equal(t, uintptr(6<<20), c.SymSize)
		}},
		{"boot timeout", map[string]string{config.EnvBootTimeout: "1m30s"}, func(t *testing.T, c config.Config) { assert.Equal(t, 90*time.Second, c.BootTimeout) }},
		{"ofi provider", map[string]string{config.EnvOFIProvider: " verbs;ofi_rxm "}, func(t *testing.T, c config.Config) { assert.Equal(t, "verbs;ofi_rxm", c.OFIProvider) }},
		{"peer timeout", map[string]string{config.EnvPeerTimeout: "3s"}, func(t *testing.T, c config.Config) { assert.Equal(t, 3*time.Second, c.PeerTimeout) }},
		{"prefault 0", map[string]string{config.EnvPrefault: "0"}, func(t *testing.T, c config.Config) { assert.False(t, c.Prefault) }},
		{"prefault false", map[string]string{config.EnvPrefault: "false"}, func(t *testing.T, c config.Config) { assert.False(t, c.Prefault) }},
		{"prefault 1", map[string]string{config.EnvPrefault: "1"}, func(t *testing.T, c config.Config) { assert.True(t, c.Prefault) }},
		{"bind 3", map[string]string{config.EnvBind: "3"}, func(t *testing.T, c config.Config) { assert.Equal(t, 3, c.BindCPU) }},
		{"bind none", map[string]string{config.EnvBind: "none"}, func(t *testing.T, c config.Config) { assert.Equal(t, -1, c.BindCPU) }},
		{"checked default", map[string]string{}, func(t *testing.T, c config.Config) { assert.False(t, c.Checked) }},
		{"checked 1", map[string]string{config.EnvChecked: "1"}, func(t *testing.T, c config.Config) { assert.True(t, c.Checked) }},
		{"shared GPU default", map[string]string{}, func(t *testing.T, c config.Config) { assert.False(t, c.SharedGPU) }},
		{"shared GPU 1", map[string]string{config.EnvSharedGPU: "1"}, func(t *testing.T, c config.Config) { assert.True(t, c.SharedGPU) }},
		{"shm dir", map[string]string{config.EnvShmDir: "/tmp/x"}, func(t *testing.T, c config.Config) { assert.Equal(t, "/tmp/x", c.ShmDir) }},
		{"segment fds", func() map[string]string {
			m := shmEnv()
			m[config.EnvSegmentFDs] = "3"
			return m
		}(), func(t *testing.T, c config.Config) { assert.Equal(t, 3, c.SegmentFD) }},
		{"coll push max", map[string]string{config.EnvCollPushMax: "4k"}, func(t *testing.T, c config.Config) { assert.Equal(t, uintptr(4096), c.CollPushMax) }},
		{"coll push max limit", map[string]string{config.EnvCollPushMax: "16k"}, func(t *testing.T, c config.Config) { assert.Equal(t, uintptr(16<<10), c.CollPushMax) }},
		{"explicit inproc", map[string]string{config.EnvTransport: "inproc"}, func(t *testing.T, c config.Config) {
			assert.Equal(t, config.TransportInproc, c.Transport)
		}},
		{"job implies shm", shmEnv(), func(t *testing.T, c config.Config) {
			assert.Equal(t, config.TransportShm, c.Transport)
			assert.Equal(t, "job_0123abcd", c.Job)
			assert.Equal(t, 1, c.PE)
			assert.Equal(t, 4, c.NPES)
		}},
		{"explicit inproc beats job", func() map[string]string {
			m := shmEnv()
			m[config.EnvTransport] = config.TransportInproc
			return m
		}(), func(t *testing.T, c config.Config) {
			assert.Equal(t, config.TransportInproc, c.Transport)
		}},
		{"last PE", func() map[string]string {
			m := shmEnv()
			m[config.EnvPE] = "3"
			return m
		}(), func(t *testing.T, c config.Config) { assert.Equal(t, 3, c.PE) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(env(tc.env))
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"npes zero", map[string]string{config.EnvNPES: "0"}, []string{`GSHMEM_NPES="0"`, ">= 1"}},
		{"npes negative", map[string]string{config.EnvNPES: "-3"}, []string{`GSHMEM_NPES="-3"`}},
		{"npes word", map[string]string{config.EnvNPES: "four"}, []string{`GSHMEM_NPES="four"`}},
		{"npes float", map[string]string{config.EnvNPES: "2.5"}, []string{`GSHMEM_NPES="2.5"`}},
		{"pe negative", map[string]string{config.EnvPE: "-1"}, []string{`GSHMEM_PE="-1"`, ">= 0"}},
		{"pe word", map[string]string{config.EnvPE: "x"}, []string{`GSHMEM_PE="x"`}},
		{"local rank", map[string]string{config.EnvLocalRank: "-2"}, []string{`GSHMEM_LOCAL_RANK="-2"`}},
		{"local size", map[string]string{config.EnvLocalSize: "0"}, []string{`GSHMEM_LOCAL_SIZE="0"`, ">= 1"}},
		{"transport", map[string]string{config.EnvTransport: "tcp"}, []string{`GSHMEM_TRANSPORT="tcp"`, "inproc", "shm"}},
		{"transport case", map[string]string{config.EnvTransport: "SHM"}, []string{`GSHMEM_TRANSPORT="SHM"`}},
		{"size junk", map[string]string{config.EnvSymSize: "lots"}, []string{`GSHMEM_SYMMETRIC_SIZE="lots"`}},
		{"size zero", map[string]string{config.EnvSymSize: "0"}, []string{`GSHMEM_SYMMETRIC_SIZE="0"`}},
		{"size negative", map[string]string{config.EnvSymSize: "-1m"}, []string{`GSHMEM_SYMMETRIC_SIZE="-1m"`}},
		{"size fraction", map[string]string{config.EnvSymSize: "1.5g"}, []string{`GSHMEM_SYMMETRIC_SIZE="1.5g"`}},
		{"size huge", map[string]string{config.EnvSymSize: "9999999999t"}, []string{`GSHMEM_SYMMETRIC_SIZE="9999999999t"`, "too large"}},
		{"boot zero", map[string]string{config.EnvBootTimeout: "0s"}, []string{`GSHMEM_BOOT_TIMEOUT="0s"`}},
		{"boot negative", map[string]string{config.EnvBootTimeout: "-5s"}, []string{`GSHMEM_BOOT_TIMEOUT="-5s"`}},
		{"boot no unit", map[string]string{config.EnvBootTimeout: "30"}, []string{`GSHMEM_BOOT_TIMEOUT="30"`}},
		{"peer timeout tiny", map[string]string{config.EnvPeerTimeout: "1ms"}, []string{`GSHMEM_PEER_TIMEOUT="1ms"`, "at least 100ms"}},
		{"peer timeout junk", map[string]string{config.EnvPeerTimeout: "soon"}, []string{`GSHMEM_PEER_TIMEOUT="soon"`}},
		{"prefault", map[string]string{config.EnvPrefault: "maybe"}, []string{`GSHMEM_PREFAULT="maybe"`}},
		{"bind", map[string]string{config.EnvBind: "-2"}, []string{`GSHMEM_BIND="-2"`, "CPU number"}},
		{"checked", map[string]string{config.EnvChecked: "yes"}, []string{`GSHMEM_CHECKED="yes"`}},
		{"coll push max too big", map[string]string{config.EnvCollPushMax: "17k"}, []string{`GSHMEM_COLL_PUSH_MAX="17k"`, "16k"}},
		{"coll push max junk", map[string]string{config.EnvCollPushMax: "two"}, []string{`GSHMEM_COLL_PUSH_MAX="two"`}},
		{"shm without job", map[string]string{config.EnvTransport: "shm", config.EnvPE: "0"}, []string{"GSHMEM_TRANSPORT=shm", "needs GSHMEM_JOB"}},
		{"shm without pe", map[string]string{config.EnvJob: "job_0123abcd"}, []string{"needs GSHMEM_PE"}},
		{"pe equals npes", map[string]string{config.EnvJob: "job_0123abcd", config.EnvPE: "4", config.EnvNPES: "4"}, []string{"GSHMEM_PE=4", "GSHMEM_NPES=4", "out of range"}},
		{"pe beyond default npes", map[string]string{config.EnvJob: "job_0123abcd", config.EnvPE: "9"}, []string{"GSHMEM_PE=9", "GSHMEM_NPES=4"}},
		{"job too short", map[string]string{config.EnvJob: "abc", config.EnvPE: "0"}, []string{`GSHMEM_JOB="abc"`}},
		{"job path", map[string]string{config.EnvJob: "../../etc/passwd", config.EnvPE: "0"}, []string{`GSHMEM_JOB="../../etc/passwd"`}},
		{"job dash", map[string]string{config.EnvJob: "abcd-efgh", config.EnvPE: "0"}, []string{`GSHMEM_JOB="abcd-efgh"`}},
		{"segment fds stdio", map[string]string{config.EnvJob: "job_0123abcd", config.EnvPE: "0", config.EnvSegmentFDs: "2"}, []string{`GSHMEM_SEGMENT_FDS="2"`, ">= 3"}},
		{"segment fds word", map[string]string{config.EnvJob: "job_0123abcd", config.EnvPE: "0", config.EnvSegmentFDs: "x"}, []string{`GSHMEM_SEGMENT_FDS="x"`}},
		{"segment fds in-process", map[string]string{config.EnvSegmentFDs: "3"}, []string{"GSHMEM_SEGMENT_FDS=3", "GSHMEM_TRANSPORT=inproc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(env(tc.env))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// A malformed SHMEM_SYMMETRIC_SIZE is reported under its own name, not under
// GSHMEM_SYMMETRIC_SIZE (which the user did not set).
func TestLoadCompatSizeErrorNamesCompat(t *testing.T) {
	_, err := config.Load(env(map[string]string{config.EnvSymSizeCompat: "huge"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `SHMEM_SYMMETRIC_SIZE="huge"`)
	assert.NotContains(t, err.Error(), config.EnvSymSize)
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1", 1},
		{"4096", 4096},
		{"1k", 1 << 10},
		{"1K", 1 << 10},
		{"1kb", 1 << 10},
		{"1KB", 1 << 10},
		{"1Kb", 1 << 10},
		{"2m", 2 << 20},
		{" 2m ", 2 << 20},
		{"128m", 128 << 20},
		{"1g", 1 << 30},
		{"3G", 3 << 30},
		{"1t", 1 << 40},
		{"7b", 7},
		{"4611686018427387904", 1 << 62},
		{"4294967296g", 1 << 62},
		{"4194304t", 1 << 62},
	} {
		got, err := config.ParseSize(tc.in)
		if assert.NoError(t, err, "ParseSize(%q)", tc.in) {
			assert.Equal(t, tc.want, got, "ParseSize(%q)", tc.in)
		}
	}
	for _, in := range []string{
		"", " ", "b", "k", "kb", "0", "0k", "-1", "-1k", "1.5m", "1x", "m1", "1kk", "1bb",
		"0x10", "1e3", "1 k", "1_000",
		"4611686018427387905", "4294967297g", "4194305t", "9223372036854775807", "9223372036854775808",
		"99999999999999999999",
	} {
		_, err := config.ParseSize(in)
		assert.Error(t, err, "ParseSize(%q)", in)
	}
}

func TestValidJob(t *testing.T) {
	for _, id := range []string{
		"abcdefgh", "ABCDEFGH", "01234567", "a_b_c_d_", "job_0123abcd", strings.Repeat("x", 64),
	} {
		assert.True(t, config.ValidJob(id), "ValidJob(%q)", id)
	}
	for _, id := range []string{
		"", "abcdefg", strings.Repeat("x", 65), "abcd-efgh", "abcd.efgh", "abcd/efgh", "../abcdef",
		"abcd efgh", "abcdéfgh", "abcdefg\x00", "abcdefgh\n",
	} {
		assert.False(t, config.ValidJob(id), "ValidJob(%q)", id)
	}
}

func TestSegmentName(t *testing.T) {
	assert.Equal(t, "gshmem-abcdefgh-3", config.SegmentName("abcdefgh", 3))
	assert.Equal(t, "gshmem-job_0123abcd-0", config.SegmentName("job_0123abcd", 0))
	// Names are unambiguous: a valid job id has no '-', so the name parses
	// back into (job, pe), and distinct pairs give distinct names.
	seen := map[string]bool{}
	for _, job := range []string{"abcdefgh", "abcdefgh1", "abcdefgh_1", "12345678"} {
		for _, pe := range []int{0, 1, 2, 11, 12, 123} {
			name := config.SegmentName(job, pe)
			require.False(t, seen[name], "duplicate name %s", name)
			seen[name] = true
			rest, ok := strings.CutPrefix(name, config.SegmentPrefix)
			require.True(t, ok, name)
			i := strings.LastIndexByte(rest, '-')
			require.Positive(t, i, name)
			assert.Equal(t, job, rest[:i])
			assert.Equal(t, strconv.Itoa(pe), rest[i+1:])
			assert.NotContains(t, name, "/")
		}
	}
}

// envConstants returns the values of the Env* constants declared in the
// package source, so that a variable added there without a Vars entry fails
// TestVars.
func envConstants(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		require.NoError(t, err)
		files = append(files, f)
	}
	out := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, "Env") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok, "%s is not a string literal", n.Name)
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					out[n.Name] = v
				}
			}
		}
	}
	return out
}

func TestVars(t *testing.T) {
	names := map[string]bool{}
	for _, v := range append(config.Vars[:len(config.Vars):len(config.Vars)], config.SlurmVars...) {
		assert.False(t, names[v.Name], "%s listed twice", v.Name)
		names[v.Name] = true
		assert.NotEmpty(t, v.Doc, v.Name)
		assert.Equal(t, strings.TrimSpace(v.Name), v.Name)
	}
	consts := envConstants(t)
	require.GreaterOrEqual(t, len(consts), 11, "parsed Env* constants: %v", consts)
	for id, name := range consts {
		assert.True(t, names[name], "%s (%s) is missing from Vars", id, name)
	}
	for _, name := range []string{
		config.EnvNPES, config.EnvPE, config.EnvTransport, config.EnvJob, config.EnvSymSize,
		config.EnvSymSizeCompat, config.EnvLocalRank, config.EnvLocalSize, config.EnvBootTimeout,
		config.EnvPrefault, config.EnvShmDir, config.EnvSegmentFDs,
	} {
		assert.True(t, names[name], "%s is missing from Vars", name)
	}
}

// slurmEnv is the environment srun gives task 1 of 4 (node n1, local id 1).
func slurmEnv(mpi string) map[string]string {
	m := map[string]string{
		config.EnvSlurmStepID: "0", config.EnvSlurmNTasks: "4", config.EnvSlurmStepNTasks: "4",
		config.EnvSlurmProcID: "1", config.EnvSlurmLocalID: "1", config.EnvSlurmNodeName: "n1",
	}
	switch mpi {
	case "pmi2":
		m[config.EnvPMIFD], m[config.EnvPMIRank], m[config.EnvPMIJobID] = "11", "1", "5.0"
	case "pmix":
		m[config.EnvPMIxNamespace], m[config.EnvPMIxRank] = "slurm.pmix.5.0", "1"
	}
	return m
}

// A task of a Slurm step joins the step's job through the PMI srun gave
// it; gpurun's variables win; a step of several tasks without a PMI is an
// error that says what to run.
func TestLoadSlurm(t *testing.T) {
	c, err := config.Load(env(slurmEnv("pmi2")))
	require.NoError(t, err)
	assert.Equal(t, config.BootstrapPMI2, c.Bootstrap)
	assert.Equal(t, config.PMI{FD: 11, Rank: 1, JobID: "5.0"}, c.PMI)
	assert.Equal(t, 1, c.SlurmLocalID)
	assert.Equal(t, "n1", c.NodeName)
	assert.Equal(t, config.TransportInproc, c.Transport, "the transport is chosen after the bootstrap")

	c, err = config.Load(env(slurmEnv("pmix")))
	require.NoError(t, err)
	assert.Equal(t, config.BootstrapPMIx, c.Bootstrap)
	assert.Equal(t, config.PMIx{Namespace: "slurm.pmix.5.0", Rank: 1}, c.PMIx)
	assert.Equal(t, config.PMI{}, c.PMI)

	m := slurmEnv("pmix")
	m[config.EnvPMIxRank] = "one"
	_, err = config.Load(env(m))
	assert.EqualError(t, err, `config: PMIX_RANK="one": want an integer >= 0`)

	m = slurmEnv("pmi2")
	for k, v := range shmEnv() {
		m[k] = v
	}
	c, err = config.Load(env(m))
	require.NoError(t, err)
	assert.Equal(t, config.BootstrapGpurun, c.Bootstrap, "a PE that gpurun started inside a step")

	_, err = config.Load(env(slurmEnv("none")))
	require.Error(t, err)
	assert.ErrorContains(t, err, "task 1 of a Slurm step of 4 tasks (SLURM_STEP_NUM_TASKS=4)")
	assert.ErrorContains(t, err, "srun --mpi=pmi2 (or --mpi=pmix)")

	m = slurmEnv("none")
	m[config.EnvTransport] = config.TransportInproc
	c, err = config.Load(env(m))
	require.NoError(t, err, "GSHMEM_TRANSPORT=inproc asks for a job per task")
	assert.Equal(t, config.BootstrapInproc, c.Bootstrap)

	m = slurmEnv("none")
	m[config.EnvSlurmNTasks], m[config.EnvSlurmStepNTasks] = "1", "1"
	c, err = config.Load(env(m))
	require.NoError(t, err, "one task needs no PMI")
	assert.Equal(t, config.BootstrapInproc, c.Bootstrap)

	m = slurmEnv("pmi2")
	m[config.EnvPMIFD] = "x"
	_, err = config.Load(env(m))
	assert.ErrorContains(t, err, `PMI_FD="x"`)

	c, err = config.Load(env(map[string]string{config.EnvPMIFD: "11"}))
	require.NoError(t, err)
	assert.Equal(t, config.BootstrapInproc, c.Bootstrap, "PMI_FD outside a Slurm step is not ours")
}

// GSHMEM_AM_SIZE_THRESHOLD: a size from 1 byte to 1g; anything else is an
// error naming the variable and its value.
func TestLoadAMSizeThreshold(t *testing.T) {
	c, err := config.Load(env(map[string]string{config.EnvAMSizeThreshold: "16k"}))
	require.NoError(t, err)
	assert.Equal(t, uintptr(16<<10), c.AMSizeThreshold)
	c, err = config.Load(env(map[string]string{config.EnvAMSizeThreshold: "1g"}))
	require.NoError(t, err)
	assert.Equal(t, uintptr(1<<30), c.AMSizeThreshold)
	for _, bad := range []string{"0", "-5", "big", "2g"} {
		_, err := config.Load(env(map[string]string{config.EnvAMSizeThreshold: bad}))
		require.ErrorContains(t, err, config.EnvAMSizeThreshold+"="+strconv.Quote(bad), bad)
	}
}
