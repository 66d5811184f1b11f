package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func scenarioHello(t *petest.T, pe *hostshmem.PE) {
	var b strings.Builder
	require.NoError(t, hello(t.Context(), pe, &b))
	var want strings.Builder
	for i := range pe.NPEs() {
		fmt.Fprintf(&want, "PE %d of %d: PE %d says hello to PE %d\n", pe.MyPE(), pe.NPEs(), i, pe.MyPE())
	}
	require.Equal(t, want.String(), b.String())
}

var scenarios = petest.Scenarios{"hello": scenarioHello}

func TestMain(m *testing.M) { petest.Main(m, scenarios) }

// TestHello runs the example on goroutine PEs, RMA-only PEs and processes.
func TestHello(t *testing.T) { petest.Both(t, scenarios, "hello", 2, 4) }
