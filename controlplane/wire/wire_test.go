package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeEnrollRequest(t *testing.T) {
	key := strings.Repeat("A", 43) + "="
	tests := []struct {
		name string
		body string
		want error
	}{
		{"ok", `{"token":"t","wg_public_key":"` + key + `","hostname":"h","os":"linux","version":"1"}`, nil},
		{"unknown field", `{"token":"t","wg_public_key":"k","x":1}`, ErrMalformed},
		{"trailing data", `{"token":"t","wg_public_key":"k"}{}`, ErrMalformed},
		{"not json", `token=t`, ErrMalformed},
		{"missing token", `{"wg_public_key":"k"}`, ErrInvalid},
		{"missing key", `{"token":"t"}`, ErrInvalid},
		{"bad name", `{"token":"t","wg_public_key":"k","name":"-x"}`, ErrInvalid},
		{"control chars", `{"token":"t","wg_public_key":"k","hostname":"a\u0000b"}`, ErrInvalid},
		{"too large", `{"token":"` + strings.Repeat("x", MaxEnrollBody) + `"}`, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEnrollRequest(strings.NewReader(tc.body))
			if !errors.Is(err, tc.want) {
				t.Errorf("DecodeEnrollRequest() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestServiceValidate(t *testing.T) {
	ok := Service{Name: "ssh", Protocol: "ssh", Port: 22, Target: "127.0.0.1:22"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid service: %v", err)
	}
	bad := map[string]func(*Service){
		"name":       func(s *Service) { s.Name = "" },
		"upper name": func(s *Service) { s.Name = "SSH" },
		"protocol":   func(s *Service) { s.Protocol = "telnet" },
		"port 0":     func(s *Service) { s.Port = 0 },
		"agent port": func(s *Service) { s.Port = AgentAPIPort },
		"no port":    func(s *Service) { s.Target = "127.0.0.1" },
		"target 0":   func(s *Service) { s.Target = "127.0.0.1:0" },
		"big port":   func(s *Service) { s.Target = "127.0.0.1:65536" },
		"no host":    func(s *Service) { s.Target = ":22" },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			s := ok
			mutate(&s)
			var fe *FieldError
			if err := s.Validate(); !errors.As(err, &fe) {
				t.Errorf("Validate() = %v, want a FieldError", err)
			}
		})
	}
	if err := (Service{Name: "db", Protocol: "tcp", Port: 5432, Target: "[::1]:5432"}).Validate(); err != nil {
		t.Errorf("IPv6 target: %v", err)
	}
}

func TestDecodeMessage(t *testing.T) {
	nm := Netmap{Version: 3, DeviceID: "dev_1",
		Engines:  []Engine{{PublicKey: "k", Endpoint: "e:1", OverlayIP: "100.96.0.1"}},
		Services: []Service{{Name: "ssh", Protocol: "ssh", Port: 22, Target: "127.0.0.1:22"}}}
	data, _ := json.Marshal(Message{Type: TypeNetmap, Netmap: &nm})
	m, err := DecodeMessage(data)
	if err != nil || m.Netmap.Version != 3 || len(m.Netmap.Services) != 1 {
		t.Fatalf("DecodeMessage() = %+v, %v", m, err)
	}
	dup := nm
	dup.Services = append(dup.Services, Service{Name: "ssh2", Protocol: "ssh", Port: 22, Target: "127.0.0.1:22"})
	data, _ = json.Marshal(Message{Type: TypeNetmap, Netmap: &dup})
	if _, err := DecodeMessage(data); !errors.Is(err, ErrInvalid) {
		t.Errorf("duplicate port: %v, want ErrInvalid", err)
	}
	for _, bad := range []string{`{"type":"netmap"}`, `{"type":"health"}`, `{"type":"x"}`, `{"type":"health","health":{},"netmap":{}}`} {
		if _, err := DecodeMessage([]byte(bad)); err == nil {
			t.Errorf("DecodeMessage(%s) accepted", bad)
		}
	}
}

// FuzzDecodeEnrollRequest: any body gives a request or an error, never a
// panic, and an accepted request re-validates.
func FuzzDecodeEnrollRequest(f *testing.F) {
	f.Add([]byte(`{"token":"t","wg_public_key":"k","hostname":"h","os":"linux","version":"1"}`))
	f.Add([]byte(`{"token":"t","wg_public_key":"k","name":"web-1"}`))
	f.Add([]byte(`{"token":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeEnrollRequest(bytes.NewReader(body))
		if err == nil && req.Validate() != nil {
			t.Fatalf("accepted an invalid request %+v", req)
		}
	})
}

// FuzzDecodeMessage: the netmap decoder never panics and what it accepts is
// valid and round-trips.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"type":"netmap","netmap":{"version":1,"device_id":"d","engines":[],"services":[{"name":"ssh","protocol":"ssh","port":22,"target":"127.0.0.1:22"}]}}`))
	f.Add([]byte(`{"type":"health","health":{"version":"1","hostname":"h","os":"linux","netmap_version":1}}`))
	f.Add([]byte(`{"type":"netmap","netmap":{"version":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid message: %v", err)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeMessage(again); err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
	})
}
