/* fuzz_config.c — config.json (hypotop.json): parse, validate, fill defaults. */
#include "fuzz.h"

#include <stdlib.h>

#include "hypotop/config.h"
#include "hypotop/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {{0}};
	struct config c;
	char *text = fuzz_cstr(data, size);
	cJSON *doc = json_parse(text, size, "hypotop.json", &e);

	if (!doc) {
		fuzz_need_msg(&e, "hypotop.json");
	} else if (config_from_json(&c, doc, "hypotop.json", text, &e) < 0) {
		fuzz_need_msg(&e, "hypotop.json");
		cJSON_Delete(doc);
	} else {
		if (!c.source_dir || !c.launch || !c.metric || !c.goal)
			fuzz_fail("hypotop.json: accepted without a required key");
		config_free(&c);
	}
	free(text);
	return 0;
}
