package main

import (
	"fmt"
	"io"
)

func runPlan(args []string, w io.Writer) error { return fmt.Errorf("todo") }
