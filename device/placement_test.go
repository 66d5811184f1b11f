package device

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/internal/config"
)

// Two processes in different PID namespaces (containers) can both be PID
// 1, and two machines have the same PIDs: the same PID is not the same
// process, and reading a peer's pointer as one of this address space
// would be a wild pointer. Only the identity decides.
func TestPathTo(t *testing.T) {
	a := identityOf(1, "100", "pid:[4026531836]", "boot-a")
	sameAgain := identityOf(1, "100", "pid:[4026531836]", "boot-a")
	otherNS := identityOf(1, "100", "pid:[4026532000]", "boot-a")
	otherBoot := identityOf(1, "100", "pid:[4026531836]", "boot-b")
	reused := identityOf(1, "250", "pid:[4026531836]", "boot-a") // the PID again, a later process
	assert.Equal(t, a, sameAgain, "the identity is derived, not drawn")
	for _, o := range []procID{otherNS, otherBoot, reused} {
		assert.NotEqual(t, a, o)
	}

	gpu0, gpu1 := [16]byte{0: 1}, [16]byte{0: 2}
	me := record{pid: 1, proc: a, uuid: gpu0}
	for _, tc := range []struct {
		name string
		peer record
		self bool
		want path
	}{
		{"itself", me, true, pathSelf},
		{"same process, same GPU", record{pid: 1, proc: sameAgain, uuid: gpu0}, false, pathPointer},
		{"same process, other GPU", record{pid: 1, proc: a, uuid: gpu1}, false, pathPeerGPU},
		{"same PID, other PID namespace", record{pid: 1, proc: otherNS, uuid: gpu0}, false, pathIPC},
		{"same PID, other machine", record{pid: 1, proc: otherBoot, uuid: gpu0}, false, pathIPC},
		{"other PID", record{pid: 2, proc: identityOf(2, "100", "pid:[4026531836]", "boot-a"), uuid: gpu0}, false, pathIPC},
	} {
		assert.Equal(t, tc.want, pathTo(me, tc.peer, tc.self), tc.name)
	}
}

func TestProcessIdentity(t *testing.T) {
	assert.Equal(t, processIdentity(), processIdentity(), "one process, one identity")
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	start := statStartTime(string(b))
	_, err = strconv.ParseUint(start, 10, 64)
	require.NoError(t, err, "starttime of %q", b)
	assert.Equal(t, "42", statStartTime("7 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 42 43"),
		"the command name may hold ') '")
	assert.Empty(t, statStartTime("7 (short) S 1 2"))
	assert.Empty(t, statStartTime("garbage"))
}

func TestRecordRoundTrip(t *testing.T) {
	r := record{pid: 77, uuid: [16]byte{1, 2, 3}, base: cuda.DevicePtr(0x7f0000001000), ipcOK: true, mps: true,
		allowShared: true, ordinal: 3, proc: identityOf(77, "1", "ns", "boot"), ipc: cuda.IpcMemHandle{9: 9, 63: 1}}
	b := r.marshal()
	require.Len(t, b, recordSize)
	assert.Equal(t, r, parseRecord(b))
	r.ipcOK, r.mps, r.allowShared = false, false, false
	assert.Equal(t, r, parseRecord(r.marshal()))
}

type fakeInfo struct{ mode fs.FileMode }

func (f fakeInfo) Name() string       { return "control" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

func TestMPSActive(t *testing.T) {
	files := map[string]fs.FileMode{}
	stat := func(p string) (fs.FileInfo, error) {
		if m, ok := files[p]; ok {
			return fakeInfo{m}, nil
		}
		return nil, fs.ErrNotExist
	}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	assert.False(t, mpsActive(getenv, stat), "no daemon")
	files["/tmp/nvidia-mps/control"] = fs.ModeSocket
	assert.True(t, mpsActive(getenv, stat), "the default pipe directory")
	env["CUDA_MPS_PIPE_DIRECTORY"] = "/run/mps"
	assert.False(t, mpsActive(getenv, stat), "clients look where the variable says, not in the default")
	files["/run/mps/control"] = 0o644
	assert.False(t, mpsActive(getenv, stat), "a plain file is no daemon")
	files["/run/mps/control"] = fs.ModeSocket | 0o777
	assert.True(t, mpsActive(getenv, stat))
}

func TestCheckSharing(t *testing.T) {
	gpu0, gpu1 := [16]byte{0: 0xa}, [16]byte{0: 0xb}
	p1, p2 := identityOf(100, "1", "ns", "boot"), identityOf(200, "1", "ns", "boot")
	rec := func(pid uint64, proc procID, gpu [16]byte) record {
		return record{pid: pid, proc: proc, uuid: gpu}
	}
	name := func(u [16]byte) string { return "GPU 0 (Fake, " + uuidString(u) + ")" }

	// PEs of one process on one GPU: one context, they run side by side.
	require.NoError(t, checkSharing([]record{rec(100, p1, gpu0), rec(100, p1, gpu0), rec(100, p1, gpu0)}, name))
	// One process per GPU.
	require.NoError(t, checkSharing([]record{rec(100, p1, gpu0), rec(200, p2, gpu1)}, name))

	// Two processes on one GPU without MPS: refused, naming PEs and GPU.
	shared := []record{rec(100, p1, gpu0), rec(100, p1, gpu1), rec(200, p2, gpu0)}
	err := checkSharing(shared, name)
	require.ErrorIs(t, err, ErrSharedGPU)
	assert.Contains(t, err.Error(), "PEs 0 (pid 100), 2 (pid 200) of 2 processes share GPU 0 (Fake, GPU-0a000000-0000-0000-0000-000000000000)")
	assert.Contains(t, err.Error(), config.EnvNPES+"=3")
	assert.Contains(t, err.Error(), "nvidia-cuda-mps-control -d")
	assert.Contains(t, err.Error(), config.EnvSharedGPU+"=1")

	// MPS seen by every process on that GPU: allowed.
	withMPS := append([]record(nil), shared...)
	withMPS[0].mps, withMPS[2].mps = true, true
	require.NoError(t, checkSharing(withMPS, name))
	// Seen by one only: still refused (the other's kernels are not MPS's).
	withMPS[2].mps = false
	require.ErrorIs(t, checkSharing(withMPS, name), ErrSharedGPU)

	// The override, when every process on the GPU gives it.
	allowed := append([]record(nil), shared...)
	allowed[0].allowShared, allowed[2].allowShared = true, true
	require.NoError(t, checkSharing(allowed, name))
	allowed[0].allowShared = false
	require.True(t, errors.Is(checkSharing(allowed, name), ErrSharedGPU), "every process must allow it")
}

func TestPlanAllowSharedGPU(t *testing.T) {
	p := &Plan{fixed: -1}
	q := p.AllowSharedGPU(true)
	assert.True(t, q.allowShared)
	assert.False(t, p.allowShared, "AllowSharedGPU returns a copy")
}
