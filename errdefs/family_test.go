package errdefs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/fabric"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/streams"
)

// kind is a shared kind with every package's name for it.
type kind struct {
	name  string
	err   error
	names map[string]error // the packages' names, "hostshmem.ErrInvalidArg": ...
}

var shared = []kind{
	{"invalid arg", errdefs.ErrInvalidArg, map[string]error{
		"hostshmem.ErrInvalidArg": shmem.ErrInvalidArg, "am.ErrInvalidArg": am.ErrInvalidArg}},
	{"invalid PE", errdefs.ErrInvalidPE, map[string]error{"hostshmem.ErrInvalidPE": shmem.ErrInvalidPE}},
	{"out of range", errdefs.ErrOutOfRange, map[string]error{"hostshmem.ErrOutOfRange": shmem.ErrOutOfRange}},
	{"closed", errdefs.ErrClosed, map[string]error{
		"am.ErrClosed": am.ErrClosed, "streams.ErrClosed": streams.ErrClosed, "cuda.ErrClosed": cuda.ErrClosed}},
	{"mismatch", errdefs.ErrMismatch, map[string]error{"hostshmem.ErrMismatch": shmem.ErrMismatch}},
	{"peer dead", errdefs.ErrPeerDead, map[string]error{"fabric.ErrPeerDead": fabric.ErrPeerDead}},
	{"unavailable", errdefs.ErrUnavailable, nil},
}

// TestOldNames: every package's old name of a shared kind is the shared
// value itself.
func TestOldNames(t *testing.T) {
	for _, k := range shared {
		for name, v := range k.names {
			assert.Same(t, k.err, v, "%s is errdefs's %s", name, k.name)
		}
	}
}

// produced is an error that a package's API returned, and what it must
// match.
type produced struct {
	pkg, call string
	err       error
	kind      error   // the shared kind
	also      []error // other shared kinds it matches by design
	member    error   // the package's finer sentinel, if any
	prefix    string  // how its text starts
}

// ping is an AM that returns its PE's number.
type ping struct{}

func (ping) Exec(ctx *am.Context) (int, error) { return ctx.MyPE(), nil }

// TestEveryPackage: errors of every shared kind, produced by each
// package's real API on goroutine PEs, match the shared sentinel and every
// package's name for it, and no other kind; a package's finer sentinels
// match their kind too. PE 1 leaves the job at the end, so that PE 0 sees
// a dead peer from every package.
func TestEveryPackage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := gshmem.Config{NPEs: 2, HeapSize: 16 << 20, Device: gshmem.DeviceCPU}
	reg := am.NewRegistry()
	am.MustRegister[ping](reg, "errdefs_test.ping")

	var (
		mu  sync.Mutex
		got []produced
	)
	add := func(p produced) {
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}
	const (
		hs = "gshmem: " // hostshmem's prefix (errdefs' doc)
		ap = "am: "
		sp = "streams: "
		dp = "device: "
	)
	leaves := errors.New("PE 1 leaves the job")
	// The PEs wait under the test's context, not Run's, which ends when PE 1
	// leaves: the dead peer must be each package's own finding.
	err := gshmem.RunWith(ctx, cfg, func(_ context.Context, pe *shmem.PE) error {
		me, n := pe.MyPE(), pe.NPEs()
		// Collective steps first, on both PEs.
		x, err := shmem.Calloc[int64](ctx, pe, 8)
		if err != nil {
			return err
		}
		y, err := shmem.Calloc[int64](ctx, pe, 16)
		if err != nil {
			return err
		}
		sig, err := shmem.Calloc[uint64](ctx, pe, 1)
		if err != nil {
			return err
		}
		_, mismatch := shmem.Malloc[int64](ctx, pe, 1+me)
		_, amMismatch := am.New(ctx, pe, reg, am.Options{RingBytes: 4096 * (1 + me)})
		w, err := am.New(ctx, pe, reg, am.Options{})
		if err != nil {
			return err
		}
		if err := w.Close(ctx); err != nil {
			return err
		}
		w2, err := am.New(ctx, pe, reg, am.Options{})
		if err != nil {
			return err
		}
		defer w2.Abort()
		s, err := streams.New(pe)
		if err != nil {
			return err
		}
		defer s.Close(ctx)
		if err := streams.AllReduce(s, pe.TeamWorld(), shmem.OpSum, x, x, 4*(1+me)); err != nil {
			return err
		}
		streamMismatch := s.Synchronize(ctx)
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		if me == 1 {
			return leaves
		}

		// PE 0 alone from here.
		c, err := shmem.CtxCreate(pe, 0)
		if err != nil {
			return err
		}
		if err := c.Destroy(); err != nil {
			return err
		}
		closedStream, err := streams.New(pe)
		if err != nil {
			return err
		}
		if err := closedStream.Close(ctx); err != nil {
			return err
		}
		buf := make([]int64, 1)
		_, amBadPE := am.Exec(w2, n, ping{}).Wait(ctx)
		_, amClosed := am.Exec(w, 0, ping{}).Wait(ctx)
		_, ptrBadPE := device.Ptr(pe, x, n)
		_, ptrEmpty := device.Ptr(pe, x.Slice(0, 0), 0)
		_, ptrRange := device.Ptr(pe, x.At(99), 0)
		_, noGPU := device.LoadModule(ctx, pe, nil)
		for _, p := range []produced{
			{pkg: "hostshmem", call: "IPut stride 0", err: shmem.IPut(pe, x, buf, 0, 1, 1, 0), kind: errdefs.ErrInvalidArg, prefix: hs},
			{pkg: "hostshmem", call: "Put to PE n", err: shmem.Put(pe, x, buf, n), kind: errdefs.ErrInvalidPE, prefix: hs},
			{pkg: "hostshmem", call: "P to At(10)", err: shmem.P(pe, x.At(10), 1, 0), kind: errdefs.ErrOutOfRange, prefix: hs},
			{pkg: "hostshmem", call: "Malloc of different sizes", err: mismatch, kind: errdefs.ErrMismatch, prefix: hs},
			{pkg: "hostshmem", call: "Put on a destroyed Ctx", err: shmem.Put(c, x, buf, 0), kind: errdefs.ErrClosed, member: shmem.ErrCtxDestroyed, prefix: hs},

			{pkg: "am", call: "Register on a nil Registry", err: am.Register[ping](nil, "x"), kind: errdefs.ErrInvalidArg, prefix: ap},
			{pkg: "am", call: "Exec to PE n", err: amBadPE, kind: errdefs.ErrInvalidPE, also: []error{errdefs.ErrInvalidArg}, prefix: ap},
			{pkg: "am", call: "Exec on a closed World", err: amClosed, kind: errdefs.ErrClosed, prefix: ap},
			{pkg: "am", call: "New with different Options", err: amMismatch, kind: errdefs.ErrMismatch, prefix: ap},

			{pkg: "streams", call: "Go(nil)", err: s.Go(nil), kind: errdefs.ErrInvalidArg, prefix: sp},
			{pkg: "streams", call: "Put to PE n", err: streams.Put(s, x, x, n), kind: errdefs.ErrInvalidPE, prefix: sp},
			{pkg: "streams", call: "Put of 16 into 8", err: streams.Put(s, x, y, 0), kind: errdefs.ErrOutOfRange, prefix: sp},
			{pkg: "streams", call: "Quiet on a closed stream", err: closedStream.Quiet(), kind: errdefs.ErrClosed, prefix: sp},
			{pkg: "streams", call: "AllReduce of different counts", err: streamMismatch, kind: errdefs.ErrMismatch, prefix: sp},

			{pkg: "device", call: "Ptr of an empty object", err: ptrEmpty, kind: errdefs.ErrInvalidArg, prefix: dp},
			{pkg: "device", call: "Ptr to PE n", err: ptrBadPE, kind: errdefs.ErrInvalidPE, prefix: dp},
			{pkg: "device", call: "Ptr of At(99)", err: ptrRange, kind: errdefs.ErrOutOfRange, prefix: dp},
			{pkg: "device", call: "LoadModule on the CPU fallback", err: noGPU, kind: errdefs.ErrUnavailable, member: device.ErrNoGPU, prefix: dp},
		} {
			add(p)
		}

		// PE 1 is gone: every package reports the dead peer.
		add(produced{pkg: "hostshmem", call: "BarrierAll", err: pe.BarrierAll(ctx), kind: errdefs.ErrPeerDead, prefix: hs})
		add(produced{pkg: "fabric", call: "Fabric.Err", err: pe.Fabric().Err(), kind: errdefs.ErrPeerDead, prefix: hs})
		_, amDead := am.Exec(w2, 1, ping{}).Wait(ctx)
		add(produced{pkg: "am", call: "Exec to the dead PE", err: amDead, kind: errdefs.ErrPeerDead, prefix: ap})
		if err := streams.SignalWait(s, sig, shmem.CmpEQ, 1); err != nil {
			return err
		}
		add(produced{pkg: "streams", call: "SignalWait for the dead PE", err: s.Synchronize(ctx), kind: errdefs.ErrPeerDead, prefix: sp})
		return nil
	})
	require.ErrorIs(t, err, leaves, "RunWith reports PE 1's error")

	// The finalized PE of a finished job.
	var done *shmem.PE
	var z shmem.Sym[int64]
	require.NoError(t, gshmem.RunWith(ctx, gshmem.Config{NPEs: 1, HeapSize: 1 << 20, Device: gshmem.DeviceCPU}, func(ctx context.Context, pe *shmem.PE) error {
		done = pe
		z, err = shmem.Calloc[int64](ctx, pe, 1)
		return err
	}))
	got = append(got, produced{pkg: "hostshmem", call: "P after Finalize", err: shmem.P(done, z, 1, 0), kind: errdefs.ErrClosed, member: shmem.ErrFinalized, prefix: hs})

	// A PE without a device heap (hostshmem.New without Config.DeviceHeap;
	// gshmem.Run always gives one).
	petest.RunPEs(t, 1, shmem.Config{}, func(pe *shmem.PE) error {
		_, err := shmem.MallocOn[int64](ctx, pe, shmem.Device, 1)
		got = append(got, produced{pkg: "hostshmem", call: "MallocOn(Device) without a device heap", err: err, kind: errdefs.ErrUnavailable, member: shmem.ErrNoDevice, prefix: hs})
		return nil
	})

	// The CUDA driver: a library that is not there; a closed Driver where
	// there is a GPU (cuda's own tests close fake drivers everywhere).
	_, noDriver := cuda.Load("/nonexistent/libcuda.so.1")
	got = append(got, produced{pkg: "cuda", call: "Load of a missing library", err: noDriver, kind: errdefs.ErrUnavailable, member: cuda.ErrNoDriver, prefix: "cuda: "})
	if d, err := cuda.Load(""); err == nil {
		require.NoError(t, d.Close())
		got = append(got, produced{pkg: "cuda", call: "Close twice", err: d.Close(), kind: errdefs.ErrClosed, prefix: "cuda: "})
	}

	kinds := map[error]string{}
	for _, k := range shared {
		kinds[k.err] = k.name
	}
	covered := map[string]map[string]bool{}
	for _, p := range got {
		what := fmt.Sprintf("%s %s (%s)", p.pkg, p.call, kinds[p.kind])
		if !assert.Error(t, p.err, what) {
			continue
		}
		t.Logf("%s: %v", what, p.err)
		assert.True(t, strings.HasPrefix(p.err.Error(), p.prefix), "%s: %q does not start with %q", what, p.err, p.prefix)
		if p.member != nil {
			assert.ErrorIs(t, p.err, p.member, what)
		}
		for _, k := range shared {
			want := k.err == p.kind
			for _, a := range p.also {
				want = want || k.err == a
			}
			assert.Equal(t, want, errors.Is(p.err, k.err), "%s matches errdefs's %s", what, k.name)
			for name, v := range k.names {
				assert.Equal(t, want, errors.Is(p.err, v), "%s matches %s", what, name)
			}
		}
		if covered[p.pkg] == nil {
			covered[p.pkg] = map[string]bool{}
		}
		covered[p.pkg][kinds[p.kind]] = true
	}
	// What each package was made to produce, so that a lost row shows.
	want := map[string][]string{
		"hostshmem": {"invalid arg", "invalid PE", "out of range", "closed", "mismatch", "peer dead", "unavailable"},
		"am":        {"invalid arg", "invalid PE", "closed", "mismatch", "peer dead"},
		"streams":   {"invalid arg", "invalid PE", "out of range", "closed", "mismatch", "peer dead"},
		"device":    {"invalid arg", "invalid PE", "out of range", "unavailable"},
		"fabric":    {"peer dead"},
		"cuda":      {"unavailable"},
	}
	for pkg, ks := range want {
		for _, k := range ks {
			assert.True(t, covered[pkg][k], "no %s error from %s", k, pkg)
		}
	}
}
