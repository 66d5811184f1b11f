package ofi

import (
	"errors"
	"fmt"
	"time"

	"github.com/gshmem/gshmem/errdefs"
)

// Options configure Open.
type Options struct {
	// Provider is a libfabric provider name such as "tcp;ofi_rxm" or
	// "verbs;ofi_rxm", as fi_info -p prints it. "" takes the first
	// provider that libfabric's fi_getinfo lists for the capabilities this
	// package needs (RDM endpoint, MSG, RMA, ATOMIC, remote CQ data,
	// FI_THREAD_SAFE, delivery-complete, no FI_MR_LOCAL): libfabric orders
	// that list itself, hardware providers (verbs, efa, cxi, psm3, ...)
	// before the software ones (tcp;ofi_rxm, then udp;ofi_rxd), so "" is
	// the best the host offers. "tcp;ofi_rxm" works on every host with an
	// IP interface. libfabric's own variables (FI_PROVIDER, FI_TCP_IFACE,
	// ...) narrow the choice further.
	Provider string
	// Timeout bounds each blocking call (Get, AMO64, AMO32, a post that
	// the provider keeps refusing for lack of resources, and Quiet's wait
	// for the next completion): past it the call returns an error
	// wrapping ErrTimeout. It is the backstop for a dead peer: on
	// tcp;ofi_rxm (libfabric 1.17) an operation on a peer killed with
	// kill -9 on this host fails at once with "Transport endpoint is not
	// connected", but a peer that vanishes without its connection being
	// reset (a lost node, a cut cable) leaves operations pending, and
	// the provider does not time them out. 0 means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout is the Timeout of Options that leave it 0.
const DefaultTimeout = 5 * time.Second

// Window is what a peer needs to address a region registered with
// Endpoint.Register. Peers exchange Windows (with their Addr) through the
// process manager.
type Window struct {
	// Base is the registered region's virtual address where the provider
	// addresses remote memory by virtual address (FI_MR_VIRT_ADDR), else
	// 0 (offsets). The remote address of byte off is Base+off.
	Base uint64
	// Key is the region's protection key (fi_mr_key).
	Key uint64
	// Len is the region's length in bytes. Operations check their range
	// against the target's Len; 0 (a Window made by hand) checks against
	// this endpoint's own registered length instead (symmetric regions).
	Len uint64
}

// Peer is one peer of Connect.
type Peer struct {
	// Addr is the peer's endpoint name (its Endpoint.Addr). nil: the peer
	// is not reachable over this endpoint (an on-node peer that the caller
	// reaches another way); operations on it return an error naming it.
	Addr []byte
	// Win addresses the peer's registered region.
	Win Window
}

// Handler receives what peers send to an endpoint. Its methods run on the
// endpoint's progress goroutine, one call at a time, in the order the
// completions arrived; they must not block, and must not call the
// endpoint's blocking methods (Get, AMO64, AMO32, Quiet, Close): those
// wait for completions that only this goroutine would read while the
// handler runs. Put, PutData and Send may be called (they do not wait for
// the CQ, except a brief drive when the provider's queues are full).
type Handler interface {
	// OnMessage is called with a message that peer from sent with Send.
	// msg is valid only during the call.
	OnMessage(from int, msg []byte)
	// OnData is called after the bytes of a PutData from peer from are
	// placed in this endpoint's region, with its data.
	OnData(from int, data uint64)
}

// Errors of the package. Every error an Endpoint returns names the
// operation and, where there is one, the peer and the values at fault.
var (
	// ErrNoLibfabric is returned by Open in a build without the ofi build
	// tag or without cgo. It matches errdefs.ErrUnavailable.
	ErrNoLibfabric = errdefs.Refine(errdefs.ErrUnavailable,
		"ofi: libfabric transport not built in (build with -tags ofi and cgo, and libfabric-dev installed)")
	// ErrClosed is errdefs.ErrClosed: the endpoint was closed before or
	// during the call.
	ErrClosed = errdefs.ErrClosed
	// ErrUnreachable: the peer has no Addr (Peer.Addr nil), or Connect
	// was not called. It matches errdefs.ErrInvalidPE.
	ErrUnreachable = errdefs.Refine(errdefs.ErrInvalidPE, "peer not reachable over this endpoint")
	// ErrTimeout: a blocking call ran past Options.Timeout. The peer may
	// be dead or unreachable.
	ErrTimeout = errors.New("operation timed out")
	// ErrPeerGone: the operation's peer was marked gone (Endpoint.Gone)
	// before or while it ran. It matches errdefs.ErrPeerDead.
	ErrPeerGone = errdefs.Refine(errdefs.ErrPeerDead, "peer marked gone")
)

// DataBits is how many low bits of PutData's data reach the target's
// Handler.OnData when the provider's remote CQ data is 8 bytes
// (domain_attr.cq_data_size, 8 on tcp;ofi_rxm and verbs;ofi_rxm): the top
// 16 bits carry the sender's peer index, so at most MaxPeers peers. With 4
// bytes of CQ data, Endpoint.DataBits says 16 and MaxPeers is still the
// limit on the sender index. Endpoint.DataBits gives the endpoint's figure.
const DataBits = 48

// MaxPeers is the most peers Connect takes (the sender index travels in 16
// bits of remote CQ data).
const MaxPeers = 1 << 16

// OpError is an error of an operation on a peer: a CQ error entry, a post
// that libfabric refused, a timeout. It wraps the cause: a *FabricError,
// ErrTimeout or ErrClosed.
type OpError struct {
	Op   string // "put", "putdata", "get", "amo64 add", "send", "quiet", ...
	Peer int    // the peer index, -1 when the error names none
	Err  error
}

func (e *OpError) Error() string {
	if e.Peer < 0 {
		return fmt.Sprintf("ofi: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("ofi: %s on peer %d: %v", e.Op, e.Peer, e.Err)
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// FabricError is an error code from libfabric: a negative return of a
// call or the err field of a CQ error entry.
type FabricError struct {
	Call      string // the libfabric call or "completion"
	Errno     int    // the FI_E* / errno value, positive
	ProvErrno int    // the provider's own code from a CQ error entry, 0 if none
	Text      string // fi_strerror(Errno)
}

func (e *FabricError) Error() string {
	if e.ProvErrno != 0 {
		return fmt.Sprintf("%s: %s (errno %d, provider errno %d)", e.Call, e.Text, e.Errno, e.ProvErrno)
	}
	return fmt.Sprintf("%s: %s (errno %d)", e.Call, e.Text, e.Errno)
}
