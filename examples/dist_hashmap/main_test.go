package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func scenarioMap(t *petest.T, pe *hostshmem.PE) {
	var b strings.Builder
	require.NoError(t, run(t.Context(), pe, 3000, &b))
	if pe.MyPE() == 0 {
		require.Contains(t, b.String(), "3000 distinct keys")
		require.Contains(t, b.String(), "lookups ok")
	}
}

var scenarios = petest.Scenarios{"map": scenarioMap}

func TestMain(m *testing.M) { petest.Main(m, scenarios) }

// TestDistHashmap runs the example on goroutine PEs, RMA-only PEs and
// processes.
func TestDistHashmap(t *testing.T) { petest.Both(t, scenarios, "map", 2, 3) }
