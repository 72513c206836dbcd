// Package loglimit keeps the warnings of network input (malformed packets,
// losses, slow readers) to one line per period, counting the others, so
// that a broken peer cannot flood the log. It knows log timing only, never
// what is logged or where.
package loglimit
