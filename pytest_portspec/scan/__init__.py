"""Outside-in scans from the tester (opt-in, --scan): nmap where installed, else a built-in asyncio
connect scanner. model.py is what a scan is asked and found; the checks read ScanFacts.

    run.py           plan_requests, scan_addresses, scan_seconds: what the checks call
    routes.py        which of a device's addresses the tester may scan
    nmap.py          nmap's command line and run;  nmap_xml.py  its XML read
    connect.py       the built-in TCP connect sweep;  udp.py  the UDP exchange both scanners use
    udp_payloads.py  the UDP requests (the probes' SNTP/DNS/BACnet, plus mDNS and SNMP)
    pacing.py        the rate (a token bucket) and the socket budget
"""
