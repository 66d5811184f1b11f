package hostshmem_test

import (
	"testing"

	"github.com/gshmem/gshmem/internal/petest"
)

var scenarios = petest.Scenarios{
	"alloc":   scenarioAlloc,
	"rma":     scenarioRMA,
	"amo":     scenarioAMO,
	"signal":  scenarioSignal,
	"wait":    scenarioWait,
	"barrier": scenarioBarrier,
	"errors":  scenarioErrors,
	"fault":   scenarioFault,
	"ring":    scenarioRing,
}

func TestMain(m *testing.M) { petest.Main(m, scenarios) }

func TestAlloc(t *testing.T)   { petest.Both(t, scenarios, "alloc", 2, 3, 4) }
func TestRMA(t *testing.T)     { petest.Both(t, scenarios, "rma", 2, 3, 4) }
func TestAMO(t *testing.T)     { petest.Both(t, scenarios, "amo", 2, 3, 4) }
func TestSignal(t *testing.T)  { petest.Both(t, scenarios, "signal", 2, 3, 4) }
func TestWait(t *testing.T)    { petest.Both(t, scenarios, "wait", 2, 3, 4) }
func TestBarrier(t *testing.T) { petest.Both(t, scenarios, "barrier", 2, 3, 4) }
func TestErrors(t *testing.T)  { petest.Both(t, scenarios, "errors", 2, 3) }
func TestRing(t *testing.T)    { petest.Both(t, scenarios, "ring", 2, 3, 4) }

// TestInprocMany runs the core scenarios on more PEs than cores.
func TestInprocMany(t *testing.T) {
	for _, s := range []string{"alloc", "rma", "amo", "barrier", "wait", "signal"} {
		t.Run(s, func(t *testing.T) { petest.Inproc(t, scenarios, s, 8) })
	}
}
