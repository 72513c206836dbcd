package recorder

// SetEagerReaders makes the recorders started after it read their hub as
// every other reader does (true) or lazily (false, the default).
func SetEagerReaders(eager bool) { eagerReaders = eager }
