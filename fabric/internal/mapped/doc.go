// Package mapped is the load/store engine of gshmem's shared-memory
// transports (fabric/inproc, fabric/shm, and the node-local half of
// fabric/hybrid): every peer's segment mapped into this process, a
// control header at the start of each segment (the state a peer left
// in, its sleepers and the byte ranges they watch), puts and gets as
// memmoves, AMOs as CPU atomics, and waits that spin, yield, then sleep
// on a futex until a Notify touches what they watch. Mapped implements
// fabric.Fabric; the transports build one from their segments and add
// how PEs start, find each other and fail. It is internal to fabric: the
// layers above see only fabric.Fabric.
package mapped
