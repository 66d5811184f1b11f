package gshmem

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/fabric/hybrid"
	"github.com/gshmem/gshmem/fabric/ofi"
	"github.com/gshmem/gshmem/fabric/shm"
)

// kvsCard + rank is the key under which a task of a job on several nodes
// puts its libfabric address and registered window (hex).
const kvsCard = "gshmem-ofi-"

// spansNodes reports whether the PEs of node (one entry per PE) run on
// more than one node.
func spansNodes(node []int) bool {
	for _, n := range node {
		if n != node[0] {
			return true
		}
	}
	return false
}

// joinNodes makes this task's PE of a job whose PEs run on several nodes:
// over shared memory with the PEs of its node, over libfabric with the
// others (fabric/hybrid). The tasks exchange their network addresses
// through the process manager, in a second fence after the bootstrap's.
func joinNodes(ctx context.Context, cfg Config, plan *device.Plan, pm processManager) (*PE, error) {
	if err := checkNPEs(cfg.NPEs, cfg.npesFrom); err != nil {
		return nil, err
	}
	node := cfg.node
	exchange := func(ctx context.Context, mine []byte) ([][]byte, error) {
		if err := pm.Put(ctx, kvsCard+strconv.Itoa(cfg.PE), hex.EncodeToString(mine)); err != nil {
			return nil, err
		}
		if err := pm.Fence(ctx); err != nil {
			return nil, fmt.Errorf("fence after publishing network addresses (%s): %w", pm.Name(), err)
		}
		all := make([][]byte, len(node))
		for r := range all {
			if node[r] == node[cfg.PE] {
				continue
			}
			v, ok, err := pm.Get(ctx, r, kvsCard+strconv.Itoa(r))
			switch {
			case err != nil:
				return nil, err
			case !ok:
				return nil, fmt.Errorf("PE %d published no network address under %s%d", r, kvsCard, r)
			}
			if all[r], err = hex.DecodeString(v); err != nil {
				return nil, fmt.Errorf("PE %d's network address under %s%d is not hex (%q): %w", r, kvsCard, r, v, err)
			}
		}
		return all, nil
	}
	bootCtx, cancel := context.WithTimeout(ctx, cfg.BootTimeout)
	defer cancel()
	f, err := hybrid.Open(bootCtx, hybrid.Options{
		Shm: shm.Options{
			Job: cfg.Job, PE: cfg.PE, NPEs: cfg.NPEs, Size: regionSize(cfg, plan),
			Dir: cfg.ShmDir, Prefault: !cfg.NoPrefault, BootTimeout: cfg.BootTimeout, LocalSize: cfg.LocalSize,
			Node: node,
		},
		OFI:         ofi.Options{Provider: cfg.OFIProvider},
		Exchange:    exchange,
		PeerTimeout: cfg.PeerTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("gshmem: PE %d of %d: %w", cfg.PE, cfg.NPEs, err)
	}
	return newPE(ctx, f, cfg, plan, cfg.LocalRank, exitProcess)
}
