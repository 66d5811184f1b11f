package fabric

import "sync/atomic"

// AMO64 applies op to *p and returns the previous value.
func AMO64(p *uint64, op AMOOp, operand, cmp uint64) uint64 {
	switch op {
	case AMOFetch:
		return atomic.LoadUint64(p)
	case AMOSet: // an exchange, which says what was there (PutSignal's set, which needs no old value, stores instead)
		return atomic.SwapUint64(p, operand)
	case AMOSwap:
		return atomic.SwapUint64(p, operand)
	case AMOCompareSwap:
		for {
			old := atomic.LoadUint64(p)
			if old != cmp {
				return old
			}
			if atomic.CompareAndSwapUint64(p, cmp, operand) {
				return old
			}
		}
	case AMOAdd:
		return atomic.AddUint64(p, operand) - operand
	case AMOAnd:
		return atomic.AndUint64(p, operand)
	case AMOOr:
		return atomic.OrUint64(p, operand)
	case AMOXor:
		for {
			old := atomic.LoadUint64(p)
			if atomic.CompareAndSwapUint64(p, old, old^operand) {
				return old
			}
		}
	}
	panic("fabric: unknown AMO " + op.String())
}

// AMO32 applies op to *p and returns the previous value.
func AMO32(p *uint32, op AMOOp, operand, cmp uint32) uint32 {
	switch op {
	case AMOFetch:
		return atomic.LoadUint32(p)
	case AMOSet:
		return atomic.SwapUint32(p, operand)
	case AMOSwap:
		return atomic.SwapUint32(p, operand)
	case AMOCompareSwap:
		for {
			old := atomic.LoadUint32(p)
			if old != cmp {
				return old
			}
			if atomic.CompareAndSwapUint32(p, cmp, operand) {
				return old
			}
		}
	case AMOAdd:
		return atomic.AddUint32(p, operand) - operand
	case AMOAnd:
		return atomic.AndUint32(p, operand)
	case AMOOr:
		return atomic.OrUint32(p, operand)
	case AMOXor:
		for {
			old := atomic.LoadUint32(p)
			if atomic.CompareAndSwapUint32(p, old, old^operand) {
				return old
			}
		}
	}
	panic("fabric: unknown AMO " + op.String())
}
