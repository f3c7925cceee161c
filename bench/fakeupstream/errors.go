package fakeupstream

import (
	"encoding/json"
	"net/http"
	"strconv"
)

type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// errorBody renders OpenAI's error envelope; empty param or code become null,
// as OpenAI sends them.
func errorBody(message, typ, param, code string) []byte {
	e := apiError{Message: message, Type: typ}
	if param != "" {
		e.Param = &param
	}
	if code != "" {
		e.Code = &code
	}
	b, err := json.Marshal(struct {
		Error apiError `json:"error"`
	}{e})
	if err != nil { // cannot happen: only strings
		panic("fakeupstream: encode error body: " + err.Error())
	}
	return b
}

var (
	errInvalidJSON = errorBody("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)", "invalid_request_error", "", "")
	err500         = errorBody("The server had an error while processing your request. Sorry about that!", "server_error", "", "")
	err503         = errorBody("The engine is currently overloaded, please try again later.", "server_error", "", "")
)

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["Openai-Version"] = hdrOAIV
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, body []byte) { writeJSON(w, status, body) }

// modelCreated is a fixed timestamp so /models bodies are byte-stable.
const modelCreated = 1721172741

func modelJSON(dst []byte, id string) []byte {
	dst = append(dst, `{"id":`...)
	dst = append(dst, src(nil).quote(id)...)
	dst = append(dst, `,"object":"model","created":`...)
	dst = strconv.AppendInt(dst, modelCreated, 10)
	return append(dst, `,"owned_by":"system"}`...)
}

func modelsList(ids []string) []byte {
	b := []byte(`{"object":"list","data":[`)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = modelJSON(b, id)
	}
	return append(b, "]}"...)
}
