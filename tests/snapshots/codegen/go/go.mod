module plughostapi

go 1.25.0

require github.com/centrifugal/centrifuge-go v0.12.1
