module github.com/pluton-go/pluton

go 1.26
