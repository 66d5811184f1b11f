package am_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/fabric"
)

// TestDeadPE: a PE that dies fails every future waiting on it, and later
// AMs to it fail at once; the surviving PE keeps working.
func TestDeadPE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	job, pes, ws := am.InprocWorlds(t, ctx, reg, 3, am.Options{Threads: 1})
	// PE 1 stops serving, then dies with an AM of PE 0 pending on it.
	ws[1].Abort()
	f := am.Exec(ws[0], 1, WhoAmI{})
	g := am.Exec(ws[0], 2, WhoAmI{})
	v, err := g.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, v)
	require.False(t, f.Ready())
	job.Fail(1, "killed by the test")
	pes[1].Abort()
	_, err = f.Wait(ctx)
	require.ErrorIs(t, err, fabric.ErrPeerDead)
	require.ErrorContains(t, err, "PE 1")
	_, err = am.Exec(ws[0], 1, WhoAmI{}).Wait(ctx)
	require.ErrorIs(t, err, fabric.ErrPeerDead)
	// PE 2 still answers PE 0, and PE 0 answers PE 2.
	v, err = am.Exec(ws[0], 2, WhoAmI{}).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, v)
	v, err = am.Exec(ws[2], 0, WhoAmI{}).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, v)
	ws[0].Abort()
	ws[2].Abort()
	pes[0].Abort()
	pes[2].Abort()
}

// TestRegister: registration errors name what is wrong.
func TestRegister(t *testing.T) {
	r := am.NewRegistry()
	require.NoError(t, am.Register[WhoAmI](r, "who"))
	err := am.Register[WhoAmI](r, "who2")
	require.ErrorIs(t, err, am.ErrDuplicate)
	require.ErrorContains(t, err, `"who"`)
	err = am.Register[Square](r, "who")
	require.ErrorIs(t, err, am.ErrDuplicate)
	require.ErrorIs(t, am.Register[Square](r, ""), am.ErrInvalidArg)
	require.ErrorIs(t, am.Register[Square](nil, "x"), am.ErrInvalidArg)
	err = am.Register[hidden](r, "hidden")
	require.ErrorIs(t, err, am.ErrCodec)
	require.ErrorContains(t, err, "hidden.secret")
	err = am.Register[withChan](r, "chan")
	require.ErrorIs(t, err, am.ErrCodec)
	require.ErrorContains(t, err, "withChan.C")
	require.ElementsMatch(t, []string{"who"}, r.Names())
}

type hidden struct{ secret int }

func (h hidden) Exec(*am.Context) (int, error) { return h.secret, nil }

type withChan struct{ C chan int }

func (withChan) Exec(*am.Context) (int, error) { return 0, nil }
