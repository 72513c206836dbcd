package webrtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory sends pion's logs to Eddy's logger: pion's errors and
// warnings (a peer that vanished, a packet that could not be written)
// are per-peer events, so they are logged at debug and warn levels, and
// trace is dropped. An error that is io.ErrClosedPipe is logged at debug:
// it is a packet for a connection that has just closed (a peer's last
// RTCP arriving while its session ends), nothing to act on.
type slogFactory struct{ log *slog.Logger } // names the component already

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("pion", scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) at(level slog.Level, msg string) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, msg)
	}
}

func (l slogLogger) Trace(string)                      {}
func (l slogLogger) Tracef(string, ...any)             {}
func (l slogLogger) Debug(msg string)                  { l.at(slog.LevelDebug, msg) }
func (l slogLogger) Debugf(format string, args ...any) { l.Debug(fmt.Sprintf(format, args...)) }
func (l slogLogger) Info(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l slogLogger) Infof(format string, args ...any)  { l.Info(fmt.Sprintf(format, args...)) }
func (l slogLogger) Warn(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l slogLogger) Warnf(format string, args ...any)  { l.Warn(fmt.Sprintf(format, args...)) }
func (l slogLogger) Error(msg string)                  { l.at(slog.LevelWarn, msg) }
func (l slogLogger) Errorf(format string, args ...any) {
	level := slog.LevelWarn
	for _, a := range args {
		if err, ok := a.(error); ok && errors.Is(err, io.ErrClosedPipe) {
			level = slog.LevelDebug
		}
	}
	l.at(level, fmt.Sprintf(format, args...))
}
