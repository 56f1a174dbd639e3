package broker

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestTicketSecretNeverPrinted: a ticket's secret shows in neither %v nor
// a log line; only AttachPath carries it.
func TestTicketSecretNeverPrinted(t *testing.T) {
	tk := Ticket{Secret: TicketPrefix + strings.Repeat("A", 43), Role: "driver", ExpiresAt: time.Now(), OrgID: "org_x", SessionID: "rs_y"}
	var log strings.Builder
	slog.New(slog.NewTextHandler(&log, nil)).Info("minted", "ticket", tk)
	for _, s := range []string{fmt.Sprint(tk), fmt.Sprintf("%+v", tk), log.String()} {
		if strings.Contains(s, "AAAA") {
			t.Errorf("secret printed: %s", s)
		}
	}
	if want := "/api/v1/orgs/org_x/sessions/rs_y/attach?ticket=" + tk.Secret; tk.AttachPath() != want {
		t.Errorf("AttachPath() = %q, want %q", tk.AttachPath(), want)
	}
}

func TestValidTicketSyntax(t *testing.T) {
	good := TicketPrefix + strings.Repeat("a", 43)
	for s, want := range map[string]bool{
		good:                          true,
		"":                            false,
		good[:len(good)-1]:            false,
		good + "a":                    false,
		"wrn_pat_" + good[8:]:         false,
		TicketPrefix + "!" + good[9:]: false,
	} {
		if got := validTicketSyntax(s); got != want {
			t.Errorf("validTicketSyntax(%q) = %v, want %v", s, got, want)
		}
	}
}
