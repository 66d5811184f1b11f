// Package spin has the processor's spin-wait hint, for the loops of waits
// that poll memory another core writes.
package spin
