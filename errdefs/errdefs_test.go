package errdefs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gshmem/gshmem/errdefs"
)

var kinds = map[string]error{
	"invalid arg":  errdefs.ErrInvalidArg,
	"invalid PE":   errdefs.ErrInvalidPE,
	"out of range": errdefs.ErrOutOfRange,
	"closed":       errdefs.ErrClosed,
	"mismatch":     errdefs.ErrMismatch,
	"peer dead":    errdefs.ErrPeerDead,
	"unavailable":  errdefs.ErrUnavailable,
}

// TestKindsDistinct: no kind matches another, and no two share a text.
func TestKindsDistinct(t *testing.T) {
	texts := map[string]string{}
	for name, k := range kinds {
		for other, o := range kinds {
			assert.Equal(t, name == other, errors.Is(k, o), "%s is %s", name, other)
		}
		assert.NotContains(t, texts, k.Error(), "text of %s", name)
		texts[k.Error()] = name
	}
}

// TestRefine: a refined sentinel matches itself and its kind, wrapped or
// not, and nothing else; its text is its own.
func TestRefine(t *testing.T) {
	fin := errdefs.Refine(errdefs.ErrClosed, "PE finalized")
	gone := errdefs.Refine(errdefs.ErrClosed, "context destroyed")
	assert.Equal(t, "PE finalized", fin.Error())
	for _, err := range []error{fin, fmt.Errorf("gshmem: put: %w", fin)} {
		assert.ErrorIs(t, err, fin)
		assert.ErrorIs(t, err, errdefs.ErrClosed)
		assert.NotErrorIs(t, err, gone, "a sibling")
		assert.NotErrorIs(t, err, errdefs.ErrInvalidArg)
	}
	assert.Equal(t, "gshmem: put: PE finalized", fmt.Errorf("gshmem: put: %w", fin).Error())
	assert.NotErrorIs(t, errdefs.ErrClosed, fin, "the kind is not the member")
	assert.NotErrorIs(t, errdefs.Refine(errdefs.ErrClosed, "PE finalized"), fin, "each call makes a new sentinel")
}

func ExampleRefine() {
	// In package hostshmem:
	errFinalized := errdefs.Refine(errdefs.ErrClosed, "PE finalized")

	err := fmt.Errorf("gshmem: barrier_all: %w", errFinalized)
	fmt.Println(err)
	fmt.Println(errors.Is(err, errFinalized), errors.Is(err, errdefs.ErrClosed))
	// Output:
	// gshmem: barrier_all: PE finalized
	// true true
}
