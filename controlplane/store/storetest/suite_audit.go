package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

func testAudit(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	at := msNow().Add(-time.Hour)
	e, err := s.AppendAudit(ctx, store.AuditEvent{OrgID: "org_a", ActorID: "usr_1", ActorType: "user", Action: "grant.create",
		ObjectType: "grant", ObjectID: "grt_1", Result: store.AuditAllowed, Reason: "admin", SourceIP: "192.0.2.1",
		Details: `{"relation":"connect"}`, CreatedAt: at})
	if err != nil {
		t.Fatalf("AppendAudit() = %v", err)
	}
	if e.ID <= 0 {
		t.Errorf("AppendAudit().ID = %d, want positive", e.ID)
	}
	got, next, err := s.ListAudit(ctx, store.AuditFilter{OrgID: "org_a"})
	if err != nil || next != "" {
		t.Fatalf("ListAudit() = %v, next %q", err, next)
	}
	equal(t, "ListAudit()", got, []store.AuditEvent{e})
	now, err := s.AppendAudit(ctx, store.AuditEvent{Action: "platform.start", Result: store.AuditAllowed})
	if err != nil || now.ID <= e.ID || now.CreatedAt.IsZero() || now.OrgID != "" {
		t.Errorf("AppendAudit(platform) = %+v, %v, want a later ID, CreatedAt set, no org", now, err)
	}

	for field, ev := range map[string]store.AuditEvent{
		"action":  {Result: store.AuditAllowed},
		"result":  {Action: "x", Result: "ok"},
		"details": {Action: "x", Result: store.AuditDenied, Details: "{not json"},
	} {
		_, err := s.AppendAudit(ctx, ev)
		wantInvalid(t, "AppendAudit(bad "+field+")", err, field)
	}
	big := `"` + strings.Repeat("x", store.MaxAuditDetails) + `"`
	_, err = s.AppendAudit(ctx, store.AuditEvent{Action: "x", Result: store.AuditError, Details: big})
	wantInvalid(t, "AppendAudit(details over 8 KiB)", err, "details")
	long, err := s.AppendAudit(ctx, store.AuditEvent{OrgID: "org_b", Action: "x", Result: store.AuditError, Reason: strings.Repeat("r", 5000)})
	if err != nil || len(long.Reason) != 1024 {
		t.Errorf("AppendAudit(long reason) = %d bytes, %v, want cut to 1024", len(long.Reason), err)
	}

	_, _, err = s.ListAudit(ctx, store.AuditFilter{})
	wantInvalid(t, "ListAudit(no org, not platform)", err, "org_id")
	_, _, err = s.ListAudit(ctx, store.AuditFilter{OrgID: "org_a", Cursor: "garbage"})
	wantInvalid(t, "ListAudit(bad cursor)", err, "cursor")
	if all, _, err := s.ListAudit(ctx, store.AuditFilter{Platform: true}); err != nil || len(all) != 3 {
		t.Errorf("ListAudit(platform) = %d events, %v, want all 3", len(all), err)
	}
	if got, _, _ := s.ListAudit(ctx, store.AuditFilter{OrgID: "org_a", Since: at.Add(time.Millisecond)}); len(got) != 0 {
		t.Errorf("ListAudit(since after the event) = %+v, want none", got)
	}
	if got, _, _ := s.ListAudit(ctx, store.AuditFilter{OrgID: "org_a", Since: at, Until: at.Add(time.Millisecond)}); len(got) != 1 {
		t.Errorf("ListAudit(since = created, until just after) = %+v, want the event", got)
	}
	if got, _, _ := s.ListAudit(ctx, store.AuditFilter{Platform: true, Until: at}); len(got) != 0 {
		t.Errorf("ListAudit(until = created) = %+v, want none", got)
	}
}

// testAuditPagination: paging through a filtered listing, newest first,
// yields every matching event exactly once, whatever is appended meanwhile.
func testAuditPagination(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	const events = 240
	var wantAll, wantDenied []int64 // of org_a, appended in order
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 { // concurrent appends, to several orgs
		wg.Go(func() {
			for i := range events / 4 {
				org := []string{"org_a", "org_a", "org_b", ""}[(w+i)%4]
				result := []string{store.AuditAllowed, store.AuditDenied, store.AuditError}[i%3]
				e, err := s.AppendAudit(ctx, store.AuditEvent{OrgID: org, ActorID: fmt.Sprintf("usr_%d", w), Action: "device.connect",
					ObjectID: "dev_1", Result: result})
				if err != nil {
					t.Errorf("AppendAudit() = %v", err)
					return
				}
				if org == "org_a" {
					mu.Lock()
					wantAll = append(wantAll, e.ID)
					if result == store.AuditDenied {
						wantDenied = append(wantDenied, e.ID)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, c := range []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"all of org_a", store.AuditFilter{OrgID: "org_a", Action: "device.connect", Limit: 7}, wantAll},
		{"denied in org_a", store.AuditFilter{OrgID: "org_a", Action: "device.connect", Result: store.AuditDenied, Limit: 5}, wantDenied},
		{"one page", store.AuditFilter{OrgID: "org_a", Action: "device.connect", Limit: 1000}, wantAll},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			var got []int64
			for pages := 0; ; pages++ {
				if pages > len(c.want) {
					t.Fatalf("more pages than events")
				}
				page, next, err := s.ListAudit(ctx, f)
				if err != nil {
					t.Fatalf("ListAudit(page %d) = %v", pages, err)
				}
				if len(page) > f.Limit || (next != "" && len(page) != f.Limit) {
					t.Fatalf("page %d has %d events with limit %d, next %q", pages, len(page), f.Limit, next)
				}
				for _, e := range page {
					if e.OrgID != "org_a" || (f.Result != "" && e.Result != f.Result) {
						t.Errorf("ListAudit(%+v) returned %+v", f, e)
					}
					got = append(got, e.ID)
				}
				// Events appended mid-listing do not disturb it.
				if _, err := s.AppendAudit(ctx, store.AuditEvent{OrgID: "org_a", Action: "late", Result: store.AuditDenied}); err != nil {
					t.Fatalf("AppendAudit() = %v", err)
				}
				if next == "" {
					break
				}
				f.Cursor = next
			}
			want := slices.Clone(c.want)
			slices.SortFunc(want, func(a, b int64) int { return cmp.Compare(b, a) }) // newest first
			equal(t, "IDs over all pages", got, want)
		})
	}
	if page, next, err := s.ListAudit(ctx, store.AuditFilter{Platform: true, Limit: 5000}); err != nil || next != "" || len(page) < events {
		t.Errorf("ListAudit(limit 5000) = %d events, next %q, %v, want all in one page", len(page), next, err)
	}
	if page, _, err := s.ListAudit(ctx, store.AuditFilter{Platform: true}); err != nil || len(page) != store.DefaultAuditLimit {
		t.Errorf("ListAudit(no limit) = %d events, %v, want %d", len(page), err, store.DefaultAuditLimit)
	}
}
