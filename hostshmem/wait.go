package hostshmem

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
)

// Cmp is a comparison for the wait and test functions.
type Cmp int

// Comparisons: the wait ends when (the variable Cmp the value) holds.
const (
	CmpEQ Cmp = iota
	CmpNE
	CmpGT
	CmpGE
	CmpLT
	CmpLE
)

var cmpNames = [...]string{"==", "!=", ">", ">=", "<", "<="}

func (c Cmp) String() string {
	if c >= 0 && int(c) < len(cmpNames) {
		return cmpNames[c]
	}
	return fmt.Sprintf("Cmp(%d)", int(c))
}

// WaitInt is the set of types a PE can wait on: 16-, 32- and 64-bit
// integers. A 16-bit variable is read with an atomic load of the aligned
// 32-bit word around it, so a store to it (a peer's P or Put) is seen
// whole; the other half of that word, another variable, does not matter.
type WaitInt interface {
	~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64 | ~int | ~uint
}

func holds[T WaitInt](cmp Cmp, a, b T) bool {
	switch cmp {
	case CmpEQ:
		return a == b
	case CmpNE:
		return a != b
	case CmpGT:
		return a > b
	case CmpGE:
		return a >= b
	case CmpLT:
		return a < b
	case CmpLE:
		return a <= b
	}
	return false
}

// load is an atomic load of *p. Go has no 16-bit atomics: a 16-bit *p is
// taken from an atomic load of the aligned 32-bit word that holds it
// (memory a 2-byte aligned variable always lies in: regions and host
// copies are 8-byte aligned).
func load[T WaitInt](p *T) T {
	var v T
	switch unsafe.Sizeof(v) {
	case 2:
		a := uintptr(unsafe.Pointer(p)) & 2
		w := atomic.LoadUint32((*uint32)(unsafe.Add(unsafe.Pointer(p), -int(a))))
		shift := 8 * a // little-endian: the first half is the low one
		if bigEndian {
			shift ^= 16
		}
		*(*uint16)(unsafe.Pointer(&v)) = uint16(w >> shift)
	case 4:
		*(*uint32)(unsafe.Pointer(&v)) = atomic.LoadUint32((*uint32)(unsafe.Pointer(p)))
	default:
		*(*uint64)(unsafe.Pointer(&v)) = atomic.LoadUint64((*uint64)(unsafe.Pointer(p)))
	}
	return v
}

// bigEndian says the first half of a 32-bit word in memory is its high
// half.
var bigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// ivars validates the local variables of a wait and returns them. For
// variables in GPU memory they are a host copy, and reload (non-nil)
// refreshes it; callers call reload before every look (waits poll:
// pollVars).
func ivars[T WaitInt](p *PE, op string, s Sym[T], status []int, cmp Cmp) (vs []T, reload func() error, err error) {
	vs, err = ivarsHost(p, op, s, status, cmp)
	if err != nil || vs != nil || s.n == 0 || !p.onGPU(s.off) {
		return vs, nil, err
	}
	// The host copy is 8-byte aligned, as load needs.
	words := make([]uint64, (s.Size()+7)/8)
	vs = unsafe.Slice((*T)(unsafe.Pointer(&words[0])), s.n)
	b := asBytes(vs)
	return vs, func() error { return p.gpu.Get(p.me, s.off-p.devOff, b) }, nil
}

// ivarsHost is ivars for variables the host can load (nil, nil in GPU
// memory).
func ivarsHost[T WaitInt](p *PE, op string, s Sym[T], status []int, cmp Cmp) ([]T, error) {
	if cmp < CmpEQ || cmp > CmpLE {
		return nil, fmt.Errorf("gshmem: %s: %w: comparison %d", op, ErrInvalidArg, int(cmp))
	}
	r, err := target(p, op, s, s.n, p.me)
	if err != nil {
		return nil, err
	}
	if status != nil && len(status) != s.n {
		return nil, fmt.Errorf("gshmem: %s: %w: status has %d entries for %d variables", op, ErrInvalidArg, len(status), s.n)
	}
	if s.n == 0 {
		return nil, nil
	}
	if s.off%unsafe.Sizeof(*new(T)) != 0 {
		return nil, fmt.Errorf("gshmem: %s: %w: offset %d is not aligned", op, ErrInvalidArg, s.off)
	}
	if r == nil {
		return nil, nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&r[0])), s.n), nil
}

// waitVars is wait for the variables ivars returned: variables the host
// loads wait in the fabric (wait); variables in GPU memory (reload not
// nil) poll (pollVars).
func (p *PE) waitVars(ctx context.Context, op string, reload func() error, cond func() bool, off, n uintptr) error {
	if reload == nil {
		return p.wait(ctx, op, cond, off, n)
	}
	return p.pollVars(ctx, op, reload, cond)
}

// pollVars waits until cond holds for variables in GPU memory, whose host
// copy reload refreshes. Nothing notifies the host when a kernel or a
// stream writes GPU memory, and every look is a copy from the device (a
// cuMemcpyDtoH), so it does not wait in the fabric, whose Wait runs its
// condition thousands of times in its spin loop (a Fabric.Wait condition
// must be cheap). It polls instead, at the pace of the fabric's
// WaitPolicy (PollBackoff): it reloads and checks, looks at the peers
// (Fabric.Err), then sleeps MinTick, doubling up to MaxTick, before its
// next look: about log2(MaxTick/MinTick) looks in the first MaxTick, then
// one per MaxTick, and a change is seen at most a tick late. ctx ending
// ends it with ctx's error; a dead peer with that peer's *fabric.PeerError
// (after one more look: the peer's last writes may have landed), recorded
// as this PE's cause as the shared-memory transports' waits do.
func (p *PE) pollVars(ctx context.Context, op string, reload func() error, cond func() bool) error {
	fail := func(err error) error { return fmt.Errorf("gshmem: %s on PE %d: %w", op, p.me, err) }
	look := func() (bool, error) {
		if err := reload(); err != nil {
			return false, fail(err)
		}
		return cond(), nil
	}
	b := fabric.PolicyOf(p.fab).PollBackoff()
	for {
		if ok, err := look(); ok || err != nil {
			return err
		}
		if err := p.fab.Err(); err != nil {
			if ok, lerr := look(); ok || lerr != nil {
				return lerr
			}
			var pe *fabric.PeerError
			if c, can := p.fab.(interface{ RecordCause(pe int) }); can && errors.As(err, &pe) {
				c.RecordCause(pe.PE)
			}
			return fail(err)
		}
		if err := b.Pause(ctx); err != nil {
			return fail(err)
		}
	}
}

// look reloads GPU variables (see ivars) before a test.
func look(op string, reload func() error) error {
	if reload == nil {
		return nil
	}
	if err := reload(); err != nil {
		return fmt.Errorf("gshmem: %s: %w", op, err)
	}
	return nil
}

// wait waits for cond, watching bytes [off, off+n) of this PE's region.
func (p *PE) wait(ctx context.Context, op string, cond func() bool, off, n uintptr) error {
	if cond() {
		return nil
	}
	if err := p.fab.Wait(ctx, cond, off, n); err != nil {
		return fmt.Errorf("gshmem: %s on PE %d: %w", op, p.me, err)
	}
	return nil
}

// WaitUntil blocks until the first element of ivar on this PE satisfies
// (ivar cmp v). A put, atomic or signal to this PE wakes it; ctx bounds the
// wait and a dead peer ends it with an error matching fabric.ErrPeerDead.
func WaitUntil[T WaitInt](ctx context.Context, p *PE, ivar Sym[T], cmp Cmp, v T) error {
	vs, reload, err := ivars(p, "wait_until", ivar, nil, cmp)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return fmt.Errorf("gshmem: wait_until: %w: empty variable", ErrInvalidArg)
	}
	x := &vs[0]
	return p.waitVars(ctx, "wait_until", reload, func() bool { return holds(cmp, load(x), v) }, ivar.off, sizeOf[T]())
}

// Test reports whether the first element of ivar satisfies (ivar cmp v).
func Test[T WaitInt](p *PE, ivar Sym[T], cmp Cmp, v T) (bool, error) {
	vs, reload, err := ivars(p, "test", ivar, nil, cmp)
	if err != nil {
		return false, err
	}
	if len(vs) == 0 {
		return false, fmt.Errorf("gshmem: test: %w: empty variable", ErrInvalidArg)
	}
	if err := look("test", reload); err != nil {
		return false, err
	}
	return holds(cmp, load(&vs[0]), v), nil
}

// set describes a multi-variable wait: variables, the ones masked out by a
// non-zero status entry, and the value each is compared with.
type set[T WaitInt] struct {
	vs     []T
	status []int
	cmp    Cmp
	v      T
	values []T // per-variable values (vector forms), else nil
	reload func() error
}

func (s *set[T]) ok(i int) bool {
	v := s.v
	if s.values != nil {
		v = s.values[i]
	}
	return holds(s.cmp, load(&s.vs[i]), v)
}

func (s *set[T]) active(i int) bool { return s.status == nil || s.status[i] == 0 }

func (s *set[T]) all() bool {
	for i := range s.vs {
		if s.active(i) && !s.ok(i) {
			return false
		}
	}
	return true
}

func (s *set[T]) any() int {
	for i := range s.vs {
		if s.active(i) && s.ok(i) {
			return i
		}
	}
	return -1
}

func (s *set[T]) some(idx []int) int {
	n := 0
	for i := range s.vs {
		if s.active(i) && s.ok(i) {
			idx[n] = i
			n++
		}
	}
	return n
}

func (s *set[T]) none() bool {
	for i := range s.vs {
		if s.active(i) {
			return false
		}
	}
	return true
}

func newSet[T WaitInt](p *PE, op string, ivs Sym[T], status []int, cmp Cmp, v T, values []T) (*set[T], error) {
	vs, reload, err := ivars(p, op, ivs, status, cmp)
	if err != nil {
		return nil, err
	}
	if values != nil && len(values) != ivs.n {
		return nil, fmt.Errorf("gshmem: %s: %w: %d values for %d variables", op, ErrInvalidArg, len(values), ivs.n)
	}
	// Tests look once, now.
	if err := look(op, reload); err != nil {
		return nil, err
	}
	return &set[T]{vs: vs, status: status, cmp: cmp, v: v, values: values, reload: reload}, nil
}

// WaitUntilAll blocks until every element of ivars whose status entry is 0
// (status may be nil: all) satisfies (element cmp v).
func WaitUntilAll[T WaitInt](ctx context.Context, p *PE, ivars Sym[T], status []int, cmp Cmp, v T) error {
	return waitAll(ctx, p, "wait_until_all", ivars, status, cmp, v, nil)
}

// WaitUntilAllVector is WaitUntilAll comparing element i with values[i].
func WaitUntilAllVector[T WaitInt](ctx context.Context, p *PE, ivars Sym[T], status []int, cmp Cmp, values []T) error {
	return waitAll(ctx, p, "wait_until_all_vector", ivars, status, cmp, 0, vector(values))
}

func waitAll[T WaitInt](ctx context.Context, p *PE, op string, ivs Sym[T], status []int, cmp Cmp, v T, values []T) error {
	s, err := newSet(p, op, ivs, status, cmp, v, values)
	if err != nil {
		return err
	}
	return p.waitVars(ctx, op, s.reload, s.all, ivs.off, ivs.Size())
}

// WaitUntilAny blocks until some element of ivars whose status entry is 0
// satisfies (element cmp v) and returns its index; -1 (at once) when
// status masks out every element.
func WaitUntilAny[T WaitInt](ctx context.Context, p *PE, ivars Sym[T], status []int, cmp Cmp, v T) (int, error) {
	return waitAny(ctx, p, "wait_until_any", ivars, status, cmp, v, nil)
}

// WaitUntilAnyVector is WaitUntilAny comparing element i with values[i].
func WaitUntilAnyVector[T WaitInt](ctx context.Context, p *PE, ivars Sym[T], status []int, cmp Cmp, values []T) (int, error) {
	return waitAny(ctx, p, "wait_until_any_vector", ivars, status, cmp, 0, vector(values))
}

func waitAny[T WaitInt](ctx context.Context, p *PE, op string, ivs Sym[T], status []int, cmp Cmp, v T, values []T) (int, error) {
	s, err := newSet(p, op, ivs, status, cmp, v, values)
	if err != nil {
		return -1, err
	}
	if s.none() {
		return -1, nil
	}
	found := -1
	err = p.waitVars(ctx, op, s.reload, func() bool { found = s.any(); return found >= 0 }, ivs.off, ivs.Size())
	return found, err
}

// WaitUntilSome blocks until at least one element of ivars whose status
// entry is 0 satisfies (element cmp v), writes the indices of all that do
// into indices (which needs room for ivars.Len()) and returns how many; 0
// (at once) when status masks out every element.
func WaitUntilSome[T WaitInt](ctx context.Context, p *PE, ivars Sym[T], indices []int, status []int, cmp Cmp, v T) (int, error) {
	return waitSome(ctx, p, "wait_until_some", ivars, indices, status, cmp, v, nil)
}

// WaitUntilSomeVector is WaitUntilSome comparing element i with values[i].
func WaitUntilSomeVector[T WaitInt](ctx context.Context, p *PE, ivars Sym[T], indices []int, status []int, cmp Cmp, values []T) (int, error) {
	return waitSome(ctx, p, "wait_until_some_vector", ivars, indices, status, cmp, 0, vector(values))
}

func waitSome[T WaitInt](ctx context.Context, p *PE, op string, ivs Sym[T], indices, status []int, cmp Cmp, v T, values []T) (int, error) {
	s, err := newSet(p, op, ivs, status, cmp, v, values)
	if err != nil {
		return 0, err
	}
	if len(indices) < ivs.n {
		return 0, fmt.Errorf("gshmem: %s: %w: indices has room for %d of %d variables", op, ErrInvalidArg, len(indices), ivs.n)
	}
	if s.none() {
		return 0, nil
	}
	n := 0
	err = p.waitVars(ctx, op, s.reload, func() bool { n = s.some(indices); return n > 0 }, ivs.off, ivs.Size())
	return n, err
}

// TestAll reports whether every unmasked element satisfies (element cmp v).
func TestAll[T WaitInt](p *PE, ivars Sym[T], status []int, cmp Cmp, v T) (bool, error) {
	s, err := newSet(p, "test_all", ivars, status, cmp, v, nil)
	if err != nil {
		return false, err
	}
	return s.all(), nil
}

// TestAny returns the index of an unmasked element satisfying
// (element cmp v), or -1.
func TestAny[T WaitInt](p *PE, ivars Sym[T], status []int, cmp Cmp, v T) (int, error) {
	s, err := newSet(p, "test_any", ivars, status, cmp, v, nil)
	if err != nil {
		return -1, err
	}
	return s.any(), nil
}

// TestSome writes the indices of the unmasked elements satisfying
// (element cmp v) into indices and returns how many.
func TestSome[T WaitInt](p *PE, ivars Sym[T], indices []int, status []int, cmp Cmp, v T) (int, error) {
	s, err := newSet(p, "test_some", ivars, status, cmp, v, nil)
	if err != nil {
		return 0, err
	}
	if len(indices) < ivars.n {
		return 0, fmt.Errorf("gshmem: test_some: %w: indices has room for %d of %d variables", ErrInvalidArg, len(indices), ivars.n)
	}
	return s.some(indices), nil
}

// TestAllVector, TestAnyVector and TestSomeVector compare element i with
// values[i].
func TestAllVector[T WaitInt](p *PE, ivars Sym[T], status []int, cmp Cmp, values []T) (bool, error) {
	s, err := newSet(p, "test_all_vector", ivars, status, cmp, 0, vector(values))
	if err != nil {
		return false, err
	}
	return s.all(), nil
}

// TestAnyVector is TestAny comparing element i with values[i].
func TestAnyVector[T WaitInt](p *PE, ivars Sym[T], status []int, cmp Cmp, values []T) (int, error) {
	s, err := newSet(p, "test_any_vector", ivars, status, cmp, 0, vector(values))
	if err != nil {
		return -1, err
	}
	return s.any(), nil
}

// TestSomeVector is TestSome comparing element i with values[i].
func TestSomeVector[T WaitInt](p *PE, ivars Sym[T], indices []int, status []int, cmp Cmp, values []T) (int, error) {
	s, err := newSet(p, "test_some_vector", ivars, status, cmp, 0, vector(values))
	if err != nil {
		return 0, err
	}
	if len(indices) < ivars.n {
		return 0, fmt.Errorf("gshmem: test_some_vector: %w: indices has room for %d of %d variables", ErrInvalidArg, len(indices), ivars.n)
	}
	return s.some(indices), nil
}

// vector keeps a nil values slice distinguishable from "no vector": a nil
// slice passed to a vector form is an error for any non-empty ivars.
func vector[T WaitInt](values []T) []T {
	if values == nil {
		return []T{}
	}
	return values
}
