package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func scenarioHisto(t *petest.T, pe *hostshmem.PE) {
	var b strings.Builder
	require.NoError(t, histo(t.Context(), pe, &b))
	if pe.MyPE() != 0 {
		require.Empty(t, b.String())
		return
	}
	require.Equal(t, fmt.Sprintf("histo: %d updates from %d PEs into %d bins: ok\n", Updates*pe.NPEs(), pe.NPEs(), Bins), b.String())
}

var scenarios = petest.Scenarios{"histo": scenarioHisto}

func TestMain(m *testing.M) { petest.Main(m, scenarios) }

// TestHisto runs the example on goroutine PEs, RMA-only PEs (where the
// adds to other PEs go by AM) and processes.
func TestHisto(t *testing.T) { petest.Both(t, scenarios, "histo", 2, 3) }
