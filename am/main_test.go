package am_test

import (
	"testing"

	"github.com/gshmem/gshmem/internal/petest"
)

var scenarios = petest.Scenarios{
	"basic":      scenarioBasic,
	"returnam":   scenarioReturnAM,
	"recursive":  scenarioRecursive,
	"mix":        scenarioMix,
	"failures":   scenarioFailures,
	"darc":       scenarioDarc,
	"darcstress": scenarioDarcStress,
	"convert":    scenarioConvert,
	"rw":         scenarioRw,
	"aggregate":  scenarioAggregate,
	"flood":      scenarioFlood,
	"idlewait":   scenarioIdleWait,
	"hooks":      scenarioHooks,
}

func TestMain(m *testing.M) { petest.Main(m, scenarios) }

func TestBasic(t *testing.T)      { petest.Both(t, scenarios, "basic", 2, 3, 4) }
func TestReturnAM(t *testing.T)   { petest.Both(t, scenarios, "returnam", 2, 3) }
func TestRecursive(t *testing.T)  { petest.Both(t, scenarios, "recursive", 2, 3) }
func TestMix(t *testing.T)        { petest.Both(t, scenarios, "mix", 2, 4) }
func TestFailures(t *testing.T)   { petest.Both(t, scenarios, "failures", 2, 3) }
func TestDarc(t *testing.T)       { petest.Both(t, scenarios, "darc", 2, 3, 4) }
func TestDarcStress(t *testing.T) { petest.Both(t, scenarios, "darcstress", 2, 3) }
func TestConvert(t *testing.T)    { petest.Both(t, scenarios, "convert", 2, 3) }
func TestRw(t *testing.T)         { petest.Both(t, scenarios, "rw", 2, 3) }
func TestAggregate(t *testing.T)  { petest.Both(t, scenarios, "aggregate", 2, 3) }
func TestFlood(t *testing.T)      { petest.Both(t, scenarios, "flood", 2, 3) }

// TestInprocMany runs the core scenarios on more PEs than cores.
func TestInprocMany(t *testing.T) {
	for _, s := range []string{"basic", "recursive", "darc"} {
		t.Run(s, func(t *testing.T) { petest.Inproc(t, scenarios, s, 6) })
	}
}
