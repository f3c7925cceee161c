package main
import (
 _ "github.com/quic-go/quic-go/http3"
 _ "github.com/openai/openai-go/v3"
 _ "go.yaml.in/yaml/v3"
)
func main(){}
