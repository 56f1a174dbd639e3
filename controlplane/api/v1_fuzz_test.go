package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store/storetest"
)

// FuzzRequestBodies sends arbitrary bytes as the body of every route that
// takes one, as the org's admin: no answer is a 5xx, every error is an
// envelope, and a body that names an org_id (in any case) never succeeds.
// Each input costs one request per route: fuzz with a short
// -fuzzminimizetime (e.g. 20x), or minimizing an input takes a minute.
func FuzzRequestBodies(f *testing.F) {
	e := newEnv(f, storetest.SQLite(f))
	a := e.newTenant("alpha")
	type target struct{ method, url, action string }
	var targets []target
	for _, rt := range e.v1.Routes() {
		if rt.Body == nil || rt.Action == "org.create" {
			continue
		}
		valid, _ := json.Marshal(exampleBody(f, rt.Action, a))
		f.Add(valid)
		targets = append(targets, target{rt.Method, e.url + path(f, rt.Path, func(p string) string { return a.param(f, p) }), rt.Action})
	}
	for _, seed := range []string{
		``, `null`, `[]`, `{}`, `"x"`, `{"name":null}`, `{"port":1e400}`, `{"port":-1}`, `{"port":"22"}`,
		`{"name":"x"}{"name":"y"}`, `{"name":"\u0000"}`, `{"org_id":"x"}`, `{"ORG_ID":1}`, `{"name":{"org_id":"x"}}`,
		`{"secret":123}`, `{"domains":[1,2]}`, `{"folder_id":null}`, `{"disabled":"yes"}`, `{"ttl":"-1h"}`,
		`{"relation":"admin","object_type":"organization","subject_type":"user","subject_id":"usr_x"}`,
		`{"scope_type":"service","scope_id":"` + strings.Repeat("a", 5000) + `","name":"x","kind":"password","secret":"s"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		namesOrg := false
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) == nil {
			for k := range fields {
				namesOrg = namesOrg || strings.EqualFold(k, "org_id")
			}
		}
		for _, tg := range targets {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, tg.method, tg.url, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+a.adminTok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tg.method, tg.url, err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// This API has no agents: a valid open finds the device offline.
			offline := resp.StatusCode == http.StatusServiceUnavailable && slices.Contains(needsAgent, tg.action) &&
				strings.Contains(string(data), `"agent_offline"`)
			if resp.StatusCode >= 500 && !offline {
				t.Errorf("%s %s with %q = %d %s", tg.method, tg.url, body, resp.StatusCode, data)
			}
			if namesOrg && resp.StatusCode < 400 {
				t.Errorf("%s %s with an org_id = %d", tg.method, tg.url, resp.StatusCode)
			}
			if resp.StatusCode >= 400 {
				var env struct {
					Error struct {
						Code    string `json:"code"`
						TraceID string `json:"trace_id"`
					} `json:"error"`
				}
				if err := json.Unmarshal(data, &env); err != nil || env.Error.Code == "" || env.Error.TraceID == "" {
					t.Errorf("%s %s = %d without an error envelope: %s", tg.method, tg.url, resp.StatusCode, data)
				}
			}
		}
	})
}
