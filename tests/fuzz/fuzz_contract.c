/*
 * fuzz_contract.c — a model's answer, prose and ```json fences around it,
 * searched for each contract: analysis, plan, repair and instrument.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "hypotop/planner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		const char *name;
		int (*check)(const cJSON *, struct err *);
	} contracts[] = {
		{"analysis", contract_check_analysis},
		{"plan", contract_check_plan},
		{"repair", contract_check_repair},
		{"instrument", contract_check_instrument},
	};
	char *text = fuzz_cstr(data, size);

	for (size_t i = 0; i < ARRAY_LEN(contracts); i++) {
		struct err e = {{0}};
		cJSON *j = contract_extract(text, contracts[i].check, &e);
		if (!j) {
			fuzz_need_msg(&e, contracts[i].name);
			continue;
		}
		/* What was accepted passes the check on its own. */
		e.msg[0] = '\0';
		if (contracts[i].check(j, &e) < 0)
			fuzz_fail("%s: extracted, but refused on its own: %s", contracts[i].name,
				  e.msg);
		cJSON_Delete(j);
	}
	free(text);
	return 0;
}
