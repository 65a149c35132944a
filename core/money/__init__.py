"""Money and the rules that stop spending: what each GPU type costs per hour (`gpu_offer`), what a
new job is expected to cost (`estimate`), a person's monthly budget (`budget`), and a job's stop
rules judged from its record (`stop_rules`)."""
