// Xen-family pools (XenServer / XCP-ng): pools, hosts and VMs, kept at their declared shape.
package xen
