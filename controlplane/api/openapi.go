package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/warrenhq/warren/controlplane/secrets"
	"github.com/warrenhq/warren/controlplane/wire"
)

// openAPI builds the OpenAPI 3.1 document of routes from the route table
// itself (paths, methods, parameters, and the request and response types
// by reflection), so the document cannot drift from what Handler serves.
func openAPI(routes []*route) map[string]any {
	g := &schemas{defs: map[string]any{}}
	errorRef := g.of(reflect.TypeOf(wire.ErrorBody{}))
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		if paths[rt.path] == nil {
			paths[rt.path] = map[string]any{}
		}
		paths[rt.path][strings.ToLower(rt.method)] = g.operation(rt, errorRef)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "Warren API",
			"version": "v1",
			"description": "The REST API of the Warren console and of scripts. Every route needs a browser session " +
				"(with its CSRF token on writes) or an API token. Errors are " +
				`{"error":{"code","message","trace_id"}}; bodies over 1 MiB get 413; unknown fields (org_id among them) get 400.`,
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"token":   map[string]any{"type": "http", "scheme": "bearer", "description": "an API token, wrn_pat_..."},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": "warren_session"},
			},
		},
		"security": []any{map[string]any{"token": []string{}}, map[string]any{"session": []string{}}},
	}
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// PathParams returns the names of the {parameters} of a route path.
func PathParams(path string) []string {
	var out []string
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		out = append(out, m[1])
	}
	return out
}

func (g *schemas) operation(rt *route, errorRef map[string]any) map[string]any {
	var params []any
	for _, name := range PathParams(rt.path) {
		params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, name := range rt.query {
		params = append(params, map[string]any{"name": name, "in": "query", "required": false, "schema": map[string]any{"type": "string"}})
	}
	ok := map[string]any{"description": http.StatusText(rt.status)}
	switch {
	case rt.contentType != "":
		ok["content"] = map[string]any{rt.contentType: map[string]any{"schema": map[string]any{"type": "string"}}}
	case rt.resp != nil:
		ok["content"] = jsonContent(g.of(reflect.TypeOf(rt.resp)))
	}
	op := map[string]any{
		"operationId": rt.action,
		"summary":     rt.summary,
		"tags":        []string{tag(rt.path)},
		"responses": map[string]any{
			strconv.Itoa(rt.status): ok,
			"default":               map[string]any{"description": "an error", "content": jsonContent(errorRef)},
		},
	}
	if params != nil {
		op["parameters"] = params
	}
	if rt.access == accessTicket {
		op["security"] = []any{} // the ticket in the query authenticates
		op["description"] = "A WebSocket (binary messages, one protocols/stream frame each). Authenticated by " +
			"its single-use ticket (POST .../tickets), not by a cookie or token; an Origin header must be the engine's."
	}
	if rt.req != nil {
		op["requestBody"] = map[string]any{"required": true, "content": jsonContent(g.of(reflect.TypeOf(rt.req)))}
	}
	return op
}

func jsonContent(schema map[string]any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

// tag groups operations by the first path segment after the organization.
func tag(path string) string {
	rest := strings.TrimPrefix(path, "/api/v1/")
	if after, ok := strings.CutPrefix(rest, "orgs/{org}/"); ok {
		rest = after
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

// schemas turns Go types into JSON Schemas, named structs into
// components.
type schemas struct {
	defs map[string]any
}

var (
	timeType   = reflect.TypeOf(time.Time{})
	secretType = reflect.TypeOf(secrets.Secret{})
	rawType    = reflect.TypeOf(json.RawMessage{})
)

func (g *schemas) of(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case secretType:
		return map[string]any{"type": "string", "writeOnly": true, "description": "write-only: never returned by any route"}
	case rawType:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Struct:
		return g.object(t)
	}
	return map[string]any{}
}

// object returns a $ref to the component of struct t, defining it first.
func (g *schemas) object(t reflect.Type) map[string]any {
	ref := map[string]any{"$ref": "#/components/schemas/" + t.Name()}
	if _, done := g.defs[t.Name()]; done {
		return ref
	}
	g.defs[t.Name()] = map[string]any{} // placeholder: recursive types end here
	props := map[string]any{}
	required := []string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.of(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			required = append(required, name)
		}
	}
	g.defs[t.Name()] = map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	return ref
}
