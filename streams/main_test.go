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
