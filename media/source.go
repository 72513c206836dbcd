package media

// Source feeds the publication of one name from elsewhere: a camera
// pulled over RTSP (media/rtsp.Source) is one. The Registry decides when it
// runs, through these methods: an always-on source from AddSource to
// RemoveSource or Close, an on-demand one while Read has viewers for it.
// The source publishes and unpublishes through the Registry it was
// attached to, under the name it was attached with.
type Source interface {
	// Attach checks the source's configuration and binds it to r under
	// name. AddSource calls it once, before any other method.
	Attach(r *Registry, name string) error
	// AlwaysOn reports whether the source runs without viewers; AddSource
	// then acquires it once, for good.
	AlwaysOn() bool
	// Acquire counts one viewer's demand, starting the source if it is
	// stopped, and returns the function that releases that demand (only
	// the first call of it counts).
	Acquire() (release func())
	// Shutdown stops the source for good and waits until it has stopped
	// (and unpublished).
	Shutdown()
}
