module github.com/wan22/wan22

go 1.26.8

require (
	github.com/stretchr/testify v1.12.1
	golang.org/x/sys v0.50.0
)

require golang.org/x/image v0.48.0

require (
	github.com/google/uuid v1.1.1 // indirect
	github.com/pbnjay/memory v0.0.0-20210728143218-7b4eea64cf58
	github.com/pkg/errors v0.9.1 // indirect
	github.com/x448/float16 v0.8.4
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/text v0.44.0
	gorgonia.org/cu v0.9.6
)
