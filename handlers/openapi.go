package handlers

import (
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The OpenAPI 3 document is generated from apiRoutes and the Go types of the bodies, so that
// it cannot drift from the routes; a test checks the routes the mux serves against it and
// every answer the API gives against the statuses it lists.

// errorStatuses are the error answers every authenticated route may give.
var errorStatuses = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
	http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusTooManyRequests,
	http.StatusInternalServerError, http.StatusServiceUnavailable}

var pathParam = regexp.MustCompile(`\{(\w+)\}`)

// OpenAPI returns the API's OpenAPI 3.0 document.
func (h *API) OpenAPI() map[string]any {
	schemas := map[string]any{
		"Error": map[string]any{"type": "object", "required": []string{"error"}, "properties": map[string]any{
			"error": map[string]any{"type": "object", "required": []string{"code", "message"}, "properties": map[string]any{
				"code":    map[string]any{"type": "string", "enum": []string{"invalid", "unauthorized", "forbidden", "not_found", "conflict", "too_large", "unsupported", "too_many", "internal", "unavailable"}},
				"message": map[string]any{"type": "string"},
				"fields":  map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
			}},
		}},
	}
	paths := map[string]any{}
	for _, rt := range h.routes {
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		op := map[string]any{"summary": rt.Summary, "operationId": operationID(rt), "security": []any{map[string]any{"bearer": []string{}}}}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "integer", "minimum": 1}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.Request), schemas)}}}
		}
		responses := map[string]any{}
		for _, st := range rt.Statuses {
			resp := map[string]any{"description": http.StatusText(st)}
			if rt.Response != nil && st != http.StatusNoContent {
				resp["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.Response), schemas)}}
			}
			responses[strconv.Itoa(st)] = resp
		}
		for _, st := range errorStatuses {
			responses[strconv.Itoa(st)] = map[string]any{"description": http.StatusText(st),
				"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
		}
		op["responses"] = responses
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "adnet API", "version": "1",
			"description": "The management API of an adnet ad network. Authenticate with `Authorization: Bearer <token>`; what a token may see and change follows its user's role and account."},
		"servers":    []any{map[string]any{"url": "/"}},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}},
	}
}

// DocumentedStatuses returns the statuses the document lists for method and path (a route
// pattern), for tests.
func (h *API) DocumentedStatuses(method, path string) []int {
	for _, rt := range h.routes {
		if rt.Method == method && rt.Path == path {
			return append(append([]int{}, rt.Statuses...), errorStatuses...)
		}
	}
	return nil
}

// RoutePatterns returns "METHOD /path" of every documented route, sorted, for tests.
func (h *API) RoutePatterns() []string {
	var out []string
	for _, rt := range h.routes {
		out = append(out, rt.Method+" "+rt.Path)
	}
	sort.Strings(out)
	return out
}

func (h *API) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, h.OpenAPI())
}

// operationID names a route for client generators: method and path words.
func operationID(rt apiRoute) string {
	id := strings.ToLower(rt.Method)
	for _, part := range strings.Split(strings.TrimPrefix(rt.Path, "/api/v1/"), "/") {
		part = strings.Trim(part, "{}")
		part = strings.ReplaceAll(part, "-", "_")
		if part != "" {
			id += "_" + part
		}
	}
	return id
}

var timeType = reflect.TypeOf(time.Time{})

// schemaOf returns the JSON schema of t as encoding/json writes it, registering named
// structs in schemas and referring to them.
func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	if t.Kind() == reflect.Pointer {
		s := schemaOf(t.Elem(), schemas)
		s["nullable"] = true
		return s
	}
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), schemas)}
	case reflect.Struct:
		if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
			return map[string]any{"type": "object", "additionalProperties": true}
		}
		name := schemaName(t)
		if _, ok := schemas[name]; !ok {
			schemas[name] = map[string]any{} // placeholder: recursive types
			props := map[string]any{}
			addFields(t, props, schemas)
			schemas[name] = map[string]any{"type": "object", "properties": props}
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

var jsonMarshaler = reflect.TypeOf((*interface{ MarshalJSON() ([]byte, error) })(nil)).Elem()

// addFields adds t's JSON fields to props, flattening embedded structs as encoding/json does.
func addFields(t reflect.Type, props map[string]any, schemas map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(ft, props, schemas)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type, schemas)
	}
}

// schemaName is a readable component name: the type's name with its type arguments.
func schemaName(t reflect.Type) string {
	n := t.Name()
	n = strings.NewReplacer("[", "_", "]", "", "adnet/models.", "", "adnet/internal/manage.", "", ".", "_", "/", "_").Replace(n)
	return n
}
