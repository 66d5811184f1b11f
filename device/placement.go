package device

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/internal/config"
)

// procID names one process of one boot of one machine: PEs with equal
// procIDs share an address space (and so device pointers), others reach
// each other's heaps over CUDA IPC. A PID alone does not do: processes in
// different PID namespaces (containers) or on different machines may have
// the same PID.
type procID [16]byte

// identityOf derives a procID from what names a process on Linux: its PID,
// its start time since boot (/proc/self/stat field 22: a PID reused later
// starts later), its PID namespace (/proc/self/ns/pid) and the boot
// (/proc/sys/kernel/random/boot_id). Pure: equal inputs, equal identity.
func identityOf(pid int, start, pidNS, bootID string) procID {
	sum := sha256.Sum256([]byte(strings.Join([]string{"gshmem-proc", strconv.Itoa(pid), start, pidNS, bootID}, "\x00")))
	var id procID
	copy(id[:], sum[:])
	return id
}

// processIdentity is this process's procID, read from /proc. Where /proc
// says nothing (not Linux, a restricted sandbox) the missing parts are
// random, drawn once per Plan: the PEs of one Plan (one process) still
// agree, and no other process can match by accident.
func processIdentity() procID {
	start, ns, boot := "", "", ""
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		start = statStartTime(string(b))
	}
	if l, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		ns = l
	}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		boot = strings.TrimSpace(string(b))
	}
	if start == "" || ns == "" || boot == "" {
		boot += "/random:" + rand.Text()
	}
	return identityOf(os.Getpid(), start, ns, boot)
}

// statStartTime is field 22 (starttime) of a /proc/<pid>/stat line, or ""
// if the line is malformed. The command name (field 2) may hold spaces and
// parentheses: fields are counted from the last ')'.
func statStartTime(stat string) string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// mpsPipeDirDefault is where MPS clients and the control daemon meet when
// CUDA_MPS_PIPE_DIRECTORY is unset.
const mpsPipeDirDefault = "/tmp/nvidia-mps"

// mpsActive reports whether an MPS control daemon serves this process:
// the pipe directory its CUDA clients use (CUDA_MPS_PIPE_DIRECTORY, else
// /tmp/nvidia-mps) holds the daemon's "control" socket. getenv and stat
// are os.Getenv and os.Stat outside tests. It cannot see an MPS daemon
// that refuses this user; the driver then fails the context creation
// itself.
func mpsActive(getenv func(string) string, stat func(string) (fs.FileInfo, error)) bool {
	dir := getenv("CUDA_MPS_PIPE_DIRECTORY")
	if dir == "" {
		dir = mpsPipeDirDefault
	}
	fi, err := stat(filepath.Join(dir, "control"))
	return err == nil && fi.Mode()&fs.ModeSocket != 0
}

// record is what each PE publishes about its heap at Attach
// (recordSize bytes, little-endian):
//
//	[0:8]    PID (for messages)
//	[8:24]   GPU UUID
//	[24:32]  heap base in the PE's own process
//	[32]     1: the heap is exported over CUDA IPC
//	[33]     1: MPS serves the PE's process
//	[34]     1: the PE's process allows sharing a GPU without MPS
//	[40:48]  GPU ordinal in the PE's process
//	[48:64]  procID
//	[64:128] CUDA IPC handle
type record struct {
	pid         uint64
	uuid        [16]byte
	base        cuda.DevicePtr
	ipcOK       bool
	mps         bool
	allowShared bool
	ordinal     int
	proc        procID
	ipc         cuda.IpcMemHandle
}

const recordSize = 128

func flag(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func (r record) marshal() []byte {
	b := make([]byte, recordSize)
	binary.LittleEndian.PutUint64(b[0:], r.pid)
	copy(b[8:24], r.uuid[:])
	binary.LittleEndian.PutUint64(b[24:], uint64(r.base))
	b[32], b[33], b[34] = flag(r.ipcOK), flag(r.mps), flag(r.allowShared)
	binary.LittleEndian.PutUint64(b[40:], uint64(r.ordinal))
	copy(b[48:64], r.proc[:])
	copy(b[64:128], r.ipc[:])
	return b
}

func parseRecord(b []byte) record {
	var r record
	r.pid = binary.LittleEndian.Uint64(b[0:])
	copy(r.uuid[:], b[8:24])
	r.base = cuda.DevicePtr(binary.LittleEndian.Uint64(b[24:]))
	r.ipcOK, r.mps, r.allowShared = b[32] != 0, b[33] != 0, b[34] != 0
	r.ordinal = int(binary.LittleEndian.Uint64(b[40:]))
	copy(r.proc[:], b[48:64])
	copy(r.ipc[:], b[64:128])
	return r
}

// path is how a PE reaches a peer's heap.
type path int

const (
	pathSelf    path = iota // its own heap
	pathPointer             // same process, same GPU: the peer's pointer
	pathPeerGPU             // same process, another GPU: the pointer, with peer access
	pathIPC                 // another process: CUDA IPC
)

// pathTo decides how the PE with record me reaches the PE with record
// peer. Only the procID says whether they share an address space.
func pathTo(me, peer record, self bool) path {
	switch {
	case self:
		return pathSelf
	case me.proc != peer.proc:
		return pathIPC
	case me.uuid == peer.uuid:
		return pathPointer
	}
	return pathPeerGPU
}

// uuidString formats a GPU UUID as nvidia-smi does.
func uuidString(u [16]byte) string {
	return fmt.Sprintf("GPU-%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// checkSharing refuses GPUs that PEs of several processes share without
// MPS. The kernels of different processes on one GPU are time-sliced
// unless MPS runs them side by side; the device barriers and collectives
// spin until their peers arrive, so a peer's spinning kernel waits for a
// time slice of the GPU (milliseconds) at every step, or for ever. PEs of
// one process share a context and run concurrently. A GPU is allowed when
// every process with PEs on it sees MPS, or every such process allows the
// layout (GSHMEM_SHARED_GPU=1). recs are every PE's records, in PE order;
// every PE computes the same verdict from them. name describes a GPU by
// its UUID.
func checkSharing(recs []record, name func(uuid [16]byte) string) error {
	var order [][16]byte
	byGPU := map[[16]byte][]int{}
	for pe, r := range recs {
		if _, ok := byGPU[r.uuid]; !ok {
			order = append(order, r.uuid)
		}
		byGPU[r.uuid] = append(byGPU[r.uuid], pe)
	}
	for _, u := range order {
		pes := byGPU[u]
		procs := map[procID]bool{}
		mps, allow := true, true
		for _, pe := range pes {
			procs[recs[pe].proc] = true
			mps = mps && recs[pe].mps
			allow = allow && recs[pe].allowShared
		}
		if len(procs) < 2 || mps || allow {
			continue
		}
		var who []string
		for _, pe := range pes {
			who = append(who, fmt.Sprintf("%d (pid %d)", pe, recs[pe].pid))
		}
		return fmt.Errorf("device: attach: %w: PEs %s of %d processes share %s without MPS: kernels of different processes on one GPU take turns in time slices, and the device barriers and collectives spin until every PE arrives, so they slow down by orders of magnitude or stall. "+
			"Run the PEs of a GPU in one process (start the program without gpurun: %s=%d runs them as goroutines), give each process its own GPU (gpurun -n at most the number of GPUs), or start MPS (nvidia-cuda-mps-control -d); %s=1 in every process allows the layout anyway",
			ErrSharedGPU, strings.Join(who, ", "), len(procs), name(u), config.EnvNPES, len(recs), config.EnvSharedGPU)
	}
	return nil
}
