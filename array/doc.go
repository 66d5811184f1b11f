// Package array is gshmem's distributed arrays, after Lamellar's
// LamellarArrays: an array of n elements spread over every PE of an AM
// World, by Block (one contiguous chunk per PE, the first n%p PEs one
// element more) or Cyclic (round robin) Distribution, in the symmetric
// heap.
//
//	a, err := array.NewAtomicArray[uint64](ctx, w, 1000, array.Block) // collective
//	old, err := a.FetchAdd(17, 1).Wait(ctx)                          // any element, from any PE
//	got, err := a.BatchLoad([]int{3, 999, 3}).Wait(ctx)              // results in batch order
//	err = a.ForEach(ctx, func(e array.Elem[uint64]) error { ... })   // collective: this PE's elements
//	sum, err := a.Sum(ctx)                                           // collective: on every PE
//	seq, done := a.OneSided(ctx, 0)                                  // the whole array, from this PE
//	err = a.Close(ctx)                                               // collective
//
// # Kinds
//
//   - AtomicArray: every element operation is atomic, from any PE (Op:
//     load, store, swap, add, sub, mul, div, rem, and, or, xor, shl, shr,
//     each with a fetch form, and compare-exchange, with an epsilon form
//     for floats). Each element is read and changed with the atomics of
//     the 4- or 8-byte word that holds it, through hostshmem: CPU atomics
//     on a PE this one maps, fabric atomics on one it reaches over a
//     network, so elements of 1 or 2 bytes stay atomic beside their
//     neighbours. Integer add, sub, and, or, xor, swap, load and store of 4
//     and 8 bytes are one atomic; the rest, and floats, compare-and-swap
//     loops.
//   - ReadOnlyArray: loads are plain reads. Made from another kind with
//     IntoReadOnly, collectively.
//   - UnsafeArray: plain loads and stores, and this PE's part as a slice
//     (LocalData).
//   - LocalLockArray: each PE's part is guarded by a reader/writer lock of
//     that PE; element operations run on the owner under its lock (loads
//     under the read lock), and ReadLocalData and WriteLocalData hand this
//     PE's part to a function under it.
//   - GlobalLockArray: one reader/writer lock across every PE; Read and
//     Write hand this PE's part to a function under it, CollectiveWrite
//     every PE's at once, and element operations take it (loads the read
//     lock, the rest the write lock).
//   - StructArray: elements of a custom plain-data type (a struct of
//     fixed-size fields the am codec carries), loaded, stored, swapped,
//     compare-exchanged and changed by named user operations
//     (StructOptions.Ops), each atomically under a lock of the element.
//
// Operations return am futures: the ones this package does with direct
// operations are complete when they return. Batch operations take indices
// and values of one length (paired), one index (every value in turn) or
// one value (to every index) and return results in the batch's order.
// A batch changes the elements of PEs this one maps in place, with CPU
// atomics, and sends the rest as AMs to each owning PE (each carrying up
// to GSHMEM_AM_SIZE_THRESHOLD bytes of operations, 64k by default:
// gshmem.Config.AMSizeThreshold), which apply them there: across
// nodes, one message for many updates. The array's data reaches those AMs through an
// am.Darc; its AM type is registered in the World's registry when the
// first array of T is created.
//
// # Iterators
//
// Every kind has a distributed iterator (DistIter: collective, each PE
// walks the elements it holds) and a local one (LocalIter: this PE's
// elements alone); an atomic array's items are Elems (an index and
// atomic operations), the others' Indexed values (UnsafeArray's Mut forms
// hand out pointers into LocalData). The lock kinds walk each PE's part
// under their lock, the read lock for DistIter and LocalIter, the write
// lock for their Mut forms, taken for the walk and released before a
// distributed consumer's collective end. Adaptors describe the walk without
// running it: the methods Filter, Skip, StepBy and Take, and the
// functions Map, Enumerate (global indices), Chunks and Zip (with another
// array of the same layout). Consumers run it on a pool of goroutines
// (Workers, GOMAXPROCS by default) handing out contiguous pieces by a
// Schedule (Static, Dynamic, Chunk(n), Guided, WorkStealing): ForEach,
// Count, Reduce and All, and the functions Sum, Collect (into a new
// AtomicArray by a chosen Distribution) and CollectLocal.
//
//	evens := array.Map(a.DistIter().Filter(even), load)             // nothing runs yet
//	n, err := array.Sum(ctx, evens.Schedule(array.WorkStealing()))  // collective: the job's sum on every PE
//
// A distributed consumer returns the job-wide result on every PE, after
// a barrier; an error on one PE (a function's error or panic, a bad
// argument) is an error on every PE, its own where it failed and one
// naming it elsewhere, and no PE hangs. OneSided is the third kind: any
// PE walks the whole array, fetching a window at a time.
//
// # Reductions and collectives
//
// Sum, Prod, Min, Max and Reduce (a user's function) of an array are
// collective and return the same result on every PE. Gather and
// AllGather read the whole array into a slice on one or every PE;
// Broadcast stores one PE's slice into the array, and AllReduce stores
// every PE's slices combined element by element (atomic and unsafe
// arrays).
//
// # Errors
//
// An index outside the array is an error matching errdefs.ErrOutOfRange
// that names the index and the length (and, in a batch, its position; a
// batch checks every index before it changes anything). An operation a
// type does not have (a bitwise op on a float), an integer division by 0
// or a negative shift count is an error matching errdefs.ErrInvalidArg.
// After Drop, Close or a conversion, every operation on that handle
// returns an error matching errdefs.ErrClosed that names the operation.
// None of them panics.
//
// # Lifetime
//
// An array is created collectively. Every handle of it (from the
// constructor, Clone, SubArray, a conversion, or an AM that carried it) is
// a reference, counted across PEs as an am.Darc's: Drop releases one, and
// Close drops one and waits, collectively, until the array is freed. Its
// memory is freed once no PE holds a reference and no AM in flight
// carries one, by a collective sweep that the next collective array call
// on the World runs (making an array, Close, a conversion, Reclaim).
//
// The conversions (IntoReadOnly, IntoAtomic, IntoUnsafe, IntoLocalLock,
// IntoGlobalLock) are collective: each waits until its handle is the
// only reference left, saying what it waits on (after
// am.Options.ConvertWarn, and in its error when ctx ends), and consumes
// it.
//
// A handle in an AM's field (a *AtomicArray, *LocalLockArray... of the
// AM's struct) travels as the array's Darc and its view's range: the
// handler gets the receiver's handle of the same array, valid while it
// runs (Clone it to keep it).
package array
