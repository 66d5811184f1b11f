package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func scenarioGather(t *petest.T, pe *hostshmem.PE) {
	var b strings.Builder
	require.NoError(t, gather(t.Context(), pe, &b))
	if pe.MyPE() != 0 {
		require.Empty(t, b.String())
		return
	}
	require.Equal(t, fmt.Sprintf("index_gather: %d requests from %d PEs into a table of %d: ok\n", Requests*pe.NPEs(), pe.NPEs(), Len), b.String())
}

var scenarios = petest.Scenarios{"gather": scenarioGather}

func TestMain(m *testing.M) { petest.Main(m, scenarios) }

// TestGather runs the example on goroutine PEs, RMA-only PEs (where the
// loads from other PEs go by AM) and processes.
func TestGather(t *testing.T) { petest.Both(t, scenarios, "gather", 2, 3) }
