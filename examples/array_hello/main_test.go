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
	if pe.MyPE() != 0 {
		require.Empty(t, b.String())
		return
	}
	var want strings.Builder
	n, lo := pe.NPEs(), 0
	for k := range n {
		cnt := Len / n
		if k < Len%n {
			cnt++
		}
		fmt.Fprintf(&want, "elements %d-%d: PE %d\n", lo, lo+cnt-1, k)
		lo += cnt
	}
	require.Equal(t, want.String(), b.String())
}

var scenarios = petest.Scenarios{"hello": scenarioHello}

func TestMain(m *testing.M) { petest.Main(m, scenarios) }

// TestHello runs the example on goroutine PEs, RMA-only PEs and processes.
func TestHello(t *testing.T) { petest.Both(t, scenarios, "hello", 2, 3, 4) }
