data_root = 'data/coco/'
ann = data_root.replace('coco', 'voc')
