package hostshmem

// Comm is what RMA and atomic operations are issued on: a *PE (its default
// context) or a *Ctx.
type Comm interface {
	comm() *Ctx
}

// Ctx is a communication context: a stream of operations whose completion
// Quiet and Fence on this context govern.
type Ctx struct {
	pe *PE
}

func (c *Ctx) comm() *Ctx { return c }

func (p *PE) comm() *Ctx { return &p.dflt }

// PE returns the PE the context belongs to.
func (c *Ctx) PE() *PE { return c.pe }
