// Package array is gshmem's distributed arrays, after Lamellar's
// LamellarArrays: an array of n elements spread over the PEs of a team,
// by Block (one contiguous chunk per PE) or Cyclic (round robin)
// Distribution.
//
// This package is being built (issue 14). What is here:
//
//   - The layout of every distribution, of whole arrays and of sub-arrays
//     (a range of another array's indices, renumbered from 0): which PE
//     holds an element and where in its local data, the first and last
//     index a PE holds, how many it holds. An index outside the array is an
//     error matching errdefs.ErrOutOfRange that names the index and the
//     length.
//   - The element operations (Op) of the atomic arrays on any Number type,
//     on the array's data in the symmetric heap: every element is read and
//     changed with the atomics of the 4- or 8-byte word that holds it, so
//     elements of 1 or 2 bytes stay atomic beside their neighbours, on a PE
//     this one maps (CPU atomics) and on one it reaches over a network
//     (fabric atomics) alike. Integer add, sub, and, or, xor, swap, load
//     and store of 4 and 8 bytes are one atomic; the rest, and floats, are
//     compare-and-swap loops. An operation a type does not have (a
//     bitwise op on a float), an integer division by 0 or a negative shift
//     count is an error matching errdefs.ErrInvalidArg, never a panic.
//
// The array kinds (UnsafeArray, ReadOnlyArray, AtomicArray, LocalLockArray,
// GlobalLockArray), their batch operations and iterators come next, on
// these pieces and on package am.
package array
