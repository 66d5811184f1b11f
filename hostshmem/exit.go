package hostshmem

import (
	"runtime"

	"github.com/gshmem/gshmem/fabric"
)

// GlobalExit ends the whole job with status: OpenSHMEM's
// shmem_global_exit. It records the exit where every PE sees it (their
// waits on this PE fail at once, naming it and the status) and does not
// return. What happens next is Config.Exit's: gshmem.Run ends the process
// with status when it runs one PE per process (every other PE's process
// then ends with the same status, and gpurun exits with it); in-process,
// Exit is nil and GlobalExit ends the calling goroutine (runtime.Goexit:
// its deferred calls run), the PE aborts, every other PE's context ends,
// and Run returns a *gshmem.ExitError carrying status. Call it from the
// PE's own function (the goroutine Run called), not from an AM handler or
// a stream's Go function, whose goroutine it would end.
func (p *PE) GlobalExit(status int) {
	if e, ok := p.fab.(fabric.Exiter); ok && !p.closed() {
		e.GlobalExit(status)
	}
	if p.cfg.Exit != nil {
		p.cfg.Exit(status)
	}
	runtime.Goexit()
}
