package embeddednats

import (
	"fmt"
	"log/slog"
	"strings"
)

// serverLog carries the NATS server's log into the hub's, quietly for its
// start-up notices and loudly for the clients it refuses, which it also
// reports to onViolation (a counter).
type serverLog struct {
	log         *slog.Logger
	roles       map[string]string // public nkey -> role, to name who was refused
	onViolation func(kind string)
}

func newServerLog(log *slog.Logger, roles map[string]string, onViolation func(string)) *serverLog {
	if onViolation == nil {
		onViolation = func(string) {}
	}
	return &serverLog{log: log, roles: roles, onViolation: onViolation}
}

func (l *serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLog) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Debugf(string, ...any)           {}
func (l *serverLog) Tracef(string, ...any)           {}

// Errorf is where the server reports refused clients: "… - Publish
// Violation - …", "… - Subscription Violation - …", "… - authentication
// error - <user>".
func (l *serverLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	kind := ""
	switch {
	case strings.Contains(msg, "Violation"):
		kind = ViolationPermission
	case strings.Contains(strings.ToLower(msg), "authentication error"), strings.Contains(msg, "Authorization Violation"):
		kind = ViolationAuthentication
	}
	if kind == "" {
		l.log.Error(msg)
		return
	}
	l.onViolation(kind)
	l.log.Warn("NATS client refused", "kind", kind, "role", l.roleIn(msg), "detail", msg)
}

// roleIn names the role whose public key appears in a server log line.
func (l *serverLog) roleIn(msg string) string {
	for key, role := range l.roles {
		if strings.Contains(msg, key) {
			return role
		}
	}
	return "anonymous or unknown"
}
