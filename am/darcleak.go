package am

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// A Darc handle the program holds (made by NewDarc, Clone or a
// conversion) is tracked from its making to its Drop: World.Close reports
// those never dropped, and a runtime cleanup catches one that became
// unreachable undropped (it reports it and drops its reference, so the
// Darc can still be freed). Handles that AMs carry are the runtime's, not
// tracked.

// darcTrack is one tracked handle. It must not point to the handle's
// Darc value, or the cleanup watching that value would never run.
type darcTrack struct {
	w       *World
	inst    *darcInst
	seq     uint64
	pc      [1]uintptr // the call that made the handle
	cleanup runtime.Cleanup
}

// darcTracks is a World's set of tracked handles.
type darcTracks struct {
	sync.Mutex
	next   uint64
	m      map[*darcTrack]struct{}
	closed bool // the World stopped: nothing is tracked, cleanups do nothing
}

// maxLeakLines bounds the handles World.Close names one by one.
const maxLeakLines = 16

// tracked registers d, whose handle is h, and returns d. It costs a
// runtime.Callers and a runtime.AddCleanup per handle.
func tracked[D any](d *D, h *handle) *D {
	w := h.w
	tr := &darcTrack{w: w, inst: h.inst}
	runtime.Callers(3, tr.pc[:]) // 0: Callers, 1: tracked, 2: NewDarc (Clone, IntoDarc, ...), 3: its caller
	w.darcs.tracks.Lock()
	defer w.darcs.tracks.Unlock()
	if w.darcs.tracks.closed {
		return d
	}
	if w.darcs.tracks.m == nil {
		w.darcs.tracks.m = map[*darcTrack]struct{}{}
	}
	w.darcs.tracks.next++
	tr.seq = w.darcs.tracks.next
	w.darcs.tracks.m[tr] = struct{}{}
	tr.cleanup = runtime.AddCleanup(d, (*darcTrack).collected, tr)
	h.tr = tr
	return d
}

// untrack ends the tracking of h: it was dropped, or consumed by a
// conversion.
func (h *handle) untrack() {
	tr := h.tr
	if tr == nil {
		return
	}
	h.tr = nil
	tr.w.darcs.tracks.Lock()
	delete(tr.w.darcs.tracks.m, tr)
	tr.w.darcs.tracks.Unlock()
	tr.cleanup.Stop()
}

// collected runs when the Darc value of tr became unreachable: if it was
// never dropped, it says so and drops its reference. The World's tracks
// lock keeps the World from stopping (and its memory from going) meanwhile.
func (tr *darcTrack) collected() {
	w := tr.w
	w.darcs.tracks.Lock()
	defer w.darcs.tracks.Unlock()
	if _, ok := w.darcs.tracks.m[tr]; !ok || w.darcs.tracks.closed {
		return
	}
	delete(w.darcs.tracks.m, tr)
	w.opt.Logf("am: PE %d: %s became unreachable without Drop; dropping its reference now", w.me, tr)
	tr.inst.decRef(w)
}

// String names the handle's Darc and where it was made, e.g.
// "Darc[main.Counter] darc(owner 0, slot 3, gen 1) made at main.go:42 (main.run)".
func (tr *darcTrack) String() string {
	typ := strings.TrimPrefix(fmt.Sprintf("%T", tr.inst.val), "*")
	s := fmt.Sprintf("%s[%s] %v", kindNames[tr.inst.kind.Load()], typ, tr.inst.id)
	if f, _ := runtime.CallersFrames(tr.pc[:]).Next(); f.Function != "" {
		return fmt.Sprintf("%s made at %s:%d (%s)", s, f.File, f.Line, f.Function)
	}
	return s
}

// closeTracks stops tracking w's handles; with report, it reports those
// never dropped through Options.Logf (World.Close does, Abort does not).
func (w *World) closeTracks(report bool) {
	w.darcs.tracks.Lock()
	w.darcs.tracks.closed = true
	left := make([]*darcTrack, 0, len(w.darcs.tracks.m))
	for tr := range w.darcs.tracks.m {
		left = append(left, tr)
	}
	w.darcs.tracks.m = nil
	w.darcs.tracks.Unlock()
	slices.SortFunc(left, func(a, b *darcTrack) int { return cmp.Compare(a.seq, b.seq) })
	for i, tr := range left {
		tr.cleanup.Stop()
		switch {
		case !report:
		case i < maxLeakLines:
			w.opt.Logf("am: PE %d: World.Close: %s was never dropped", w.me, tr)
		case i == maxLeakLines:
			w.opt.Logf("am: PE %d: World.Close: and %d more Darc handles were never dropped", w.me, len(left)-maxLeakLines)
		}
	}
}
