package streams_test

import (
	"testing"

	"github.com/gshmem/gshmem/internal/petest"
)

var scenarios = petest.Scenarios{
	"ring":     scenarioRing,
	"order":    scenarioOrder,
	"events":   scenarioEvents,
	"gofuncs":  scenarioGoFuncs,
	"coll":     scenarioColl,
	"errors":   scenarioErrors,
	"validate": scenarioValidate,
	"close":    scenarioClose,
	"deadpeer": scenarioDeadPeer,
	// issue 12: the device side's semantics, on either engine
	"abort":      scenarioAbort,
	"waitbound":  scenarioWaitBound,
	"twoteams":   scenarioTwoTeams,
	"barrier":    scenarioStreamBarrier,
	"crossevent": scenarioCrossStreamEvent,
}

func TestMain(m *testing.M) { petest.Main(m, scenarios) }

func TestRing(t *testing.T)     { petest.Both(t, scenarios, "ring", 2, 3, 4) }
func TestOrder(t *testing.T)    { petest.Both(t, scenarios, "order", 2, 3, 4) }
func TestEvents(t *testing.T)   { petest.Both(t, scenarios, "events", 2, 3, 4) }
func TestGoFuncs(t *testing.T)  { petest.Both(t, scenarios, "gofuncs", 2, 3) }
func TestColl(t *testing.T)     { petest.Both(t, scenarios, "coll", 2, 3, 4) }
func TestErrors(t *testing.T)   { petest.Both(t, scenarios, "errors", 2, 3) }
func TestValidate(t *testing.T) { petest.Both(t, scenarios, "validate", 2, 3) }
func TestClose(t *testing.T)    { petest.Both(t, scenarios, "close", 2) }

func TestAbortPerStream(t *testing.T)   { petest.Both(t, scenarios, "abort", 2) }
func TestWaitBound(t *testing.T)        { petest.Both(t, scenarios, "waitbound", 2) }
func TestTwoTeams(t *testing.T)         { petest.Both(t, scenarios, "twoteams", 2, 3) }
func TestStreamBarrier(t *testing.T)    { petest.Both(t, scenarios, "barrier", 2, 3) }
func TestCrossStreamEvent(t *testing.T) { petest.Both(t, scenarios, "crossevent", 2) }
