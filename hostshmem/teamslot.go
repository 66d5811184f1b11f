package hostshmem

// TeamSlots is the number of slots in a PE's team pool: Team.Slot is in
// [0, TeamSlots).
const TeamSlots = teamChunks

// Slot is t's place in its PE's team pool (the first chunk of its block):
// the same number on every member of t, and different for any two teams of
// a PE that are alive at once (a destroyed team's slot is reused). It
// names t the same way on every member without communication; the stream
// engines use it to give each team's device barriers counters of their
// own. It is -1 for the null team.
func (t *Team) Slot() int {
	if t == nil {
		return -1
	}
	return t.first
}
